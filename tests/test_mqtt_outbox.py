"""The disk outbox on real SQLite files: sequence numbers never repeat or go back (deletes, restarts), the bounds drop
the oldest and count what they dropped, and only acknowledged rows go."""

from __future__ import annotations

import time

from edge.fleet.outbox import Outbox, OutboxConfig


def payload(seq: int) -> bytes:
    return f'{{"seq":{seq}}}'.encode()


def test_sequence_survives_deletes_and_restarts(tmp_path):
    cfg = OutboxConfig(path=str(tmp_path / "o.db"))
    box = Outbox(cfg)
    seqs = [box.put("t", payload) for _ in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    box.ack([1, 2, 3, 4, 5])  # everything acknowledged and deleted: the table is empty
    box.close()
    box = Outbox(cfg)  # a restart must not start again at 1
    assert box.put("t", payload) == 6 and box.depth == 1
    assert [m.payload for m in box.pending()] == [b'{"seq":6}']
    box.close()


def test_count_bound_drops_the_oldest_and_counts_them(tmp_path):
    box = Outbox(OutboxConfig(path=str(tmp_path / "o.db"), max_messages=10))
    for _ in range(25):
        box.put("t", payload)
    assert [m.seq for m in box.pending()] == list(range(16, 26))
    assert box.stats()["messages_dropped"] == 15 and box.stats()["outbox_depth"] == 10
    box.ack([16, 999])  # an unknown seq changes nothing
    assert box.depth == 9
    box.close()
    assert Outbox(OutboxConfig(path=str(tmp_path / "o.db"))).stats()["messages_dropped"] == 15  # persisted


def test_age_bound_drops_expired_messages(tmp_path):
    box = Outbox(OutboxConfig(path=str(tmp_path / "o.db"), max_age_s=0.2))
    box.put("t", payload)
    box.put("t", payload)
    assert box.stats()["outbox_oldest_age_s"] >= 0
    time.sleep(1.1)  # the age check runs at most once a second
    box.put("t", payload)
    assert [m.seq for m in box.pending()] == [3] and box.stats()["messages_dropped"] == 2
    box.close()


def test_unwritable_path_is_one_clear_error(tmp_path):
    import pytest

    from edge.errors import EdgekitError

    (tmp_path / "file").write_text("x")
    with pytest.raises(EdgekitError, match="mqtt.outbox.path"):
        Outbox(OutboxConfig(path=str(tmp_path / "file" / "o.db")))


def test_a_new_outbox_file_is_a_new_epoch_and_a_restart_keeps_it(tmp_path):
    """Sequence numbers start at 1 again only in a new file; its epoch tells a consumer that these are new events."""
    cfg = OutboxConfig(path=str(tmp_path / "o.db"))
    box = Outbox(cfg)
    first = box.epoch
    assert len(first) >= 16 and box.put("t", payload) == 1
    box.close()
    box = Outbox(cfg)
    assert box.epoch == first  # a restart: the same stream
    box.close()
    for f in tmp_path.glob("o.db*"):
        f.unlink()
    box = Outbox(cfg)
    assert box.put("t", payload) == 1 and box.epoch != first
    box.close()
