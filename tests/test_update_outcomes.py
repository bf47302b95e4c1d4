"""The update outcomes kept beside the outbox (edge.fleet.outcomes) on real files: each key kept across reopening, a
torn file and an unwritable folder cost the record, never the update."""

from __future__ import annotations

import logging
import stat

from edge.fleet.outcomes import Outcomes, outcomes_path_for


def test_each_owner_keeps_its_key_and_a_reopened_file_has_both(tmp_path):
    path = outcomes_path_for(tmp_path / "state" / "outbox.db")
    assert path == tmp_path / "state" / "outbox.outcomes.json"
    Outcomes(path).put("model_updates", {"faceres": {"ok": True}})
    Outcomes(path).put("gallery_update", {"ok": False, "message": "refused"})
    again = Outcomes(path)
    assert again.get("model_updates") == {"faceres": {"ok": True}} and again.get("gallery_update")["ok"] is False
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_torn_file_starts_afresh_with_a_warning(tmp_path, caplog):
    path = tmp_path / "outbox.outcomes.json"
    path.write_text('{"model_updates": {"faceres": ')  # power lost mid-write by something else
    with caplog.at_level(logging.WARNING, "edgekit.fleet"):
        assert Outcomes(path).get("model_updates") is None
    assert str(path) in caplog.text and "unreadable" in caplog.text
    Outcomes(path).put("gallery_update", {"ok": True})
    assert Outcomes(path).get("gallery_update") == {"ok": True}


def test_an_unwritable_place_loses_the_record_not_the_update(tmp_path, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # where the folder should be (as root, a read-only folder would still be written)
    with caplog.at_level(logging.WARNING, "edgekit.fleet"):
        Outcomes(blocked / "outbox.outcomes.json").put("gallery_update", {"ok": True})
    assert "not saved" in caplog.text and "not-a-folder" in caplog.text
    assert Outcomes(blocked / "outbox.outcomes.json").get("gallery_update") is None
