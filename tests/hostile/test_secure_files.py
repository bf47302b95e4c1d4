"""Issue 10: files are private whatever the umask: gallery, outbox, events, crops, keys and the folders made for them
come out 0600/0700; a signing key readable by others is refused with the fix (`chmod 600`)."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
import yaml

from edge.ports import free_port
from tests.hostile.cli import edgekit, one_line_error
from tests.hostile.secure_common import keygen


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def site(tmp_path: Path, zoo: Path, media, **sections) -> Path:
    out = tmp_path / "out"
    cfg = {
        "device_id": "door-files",
        "runtime": {"models_dir": str(zoo)},
        "gallery": {"path": str(tmp_path / "g" / "gallery.db")},
        "source": {"uri": str(media("carphone")), "at_end": "stop", "pace": "asap"},
        "thresholds": {"min_votes": 1, "max_attempts": 2},
        "events": {"stdout": False, "file": str(out / "ev" / "events.jsonl"), "crops_dir": str(out / "crops")},
        "mqtt": {"host": "127.0.0.1", "port": free_port(), "outbox": {"path": str(out / "q" / "outbox.db")}},
        **sections,
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_secure_gallery_outbox_events_and_crops_are_private_under_umask_0(tmp_path, zoo, media):
    config = site(tmp_path, zoo, media)
    r = edgekit("faces", "enroll", "Barack Obama", media("obama"), "--config", config, umask=0)
    assert r.returncode == 0, r.stderr[-2000:]
    r = edgekit("run", "--config", config, "--max-frames", 60, umask=0, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "out"
    files = [tmp_path / "g" / "gallery.db", out / "ev" / "events.jsonl", out / "q" / "outbox.db"]
    crops = sorted((out / "crops").glob("*"))
    assert crops, "no crop was written: the probe needs one decision"
    for f in files + crops + [p for p in (tmp_path / "g").iterdir()] + [p for p in (out / "q").iterdir()]:
        assert mode(f) == 0o600, (f, oct(mode(f)))
    for d in (tmp_path / "g", out, out / "ev", out / "q", out / "crops"):
        assert mode(d) == 0o700, (d, oct(mode(d)))


def test_secure_keygen_under_umask_0_makes_private_files(tmp_path):

    r = edgekit("fleet", "keygen", "--out", tmp_path / "ops.key", umask=0)
    assert r.returncode == 0, r.stderr
    assert mode(tmp_path / "ops.key") == 0o600


@pytest.mark.parametrize("command", ["cmd", "push-model"])
def test_secure_a_signing_key_readable_by_others_is_refused(tmp_path, zoo, command):
    key = tmp_path / "ops.key"
    keygen(key)
    key.chmod(0o644)
    if command == "cmd":
        r = edgekit("fleet", "cmd", "door-1", "stats", "--sign", key, "--port", free_port(), "--timeout", 1)
    else:
        shutil.copy(zoo / "blazeface_short.card.json", tmp_path / "blazeface_short.card.json")
        shutil.copy(zoo / "blazeface_short.tflite", tmp_path / "blazeface_short.tflite")
        r = edgekit(
            "fleet",
            "push-model",
            tmp_path / "blazeface_short.card.json",
            "--devices",
            "door-1",
            "--key",
            key,
            "--port",
            free_port(),
        )
    one_line_error(r, str(key), "chmod 600")


def test_secure_a_device_hmac_key_readable_by_others_is_refused(tmp_path, zoo, media):
    secret = tmp_path / "hmac.key"
    secret.write_text("0123456789abcdef0123456789abcdef\n")
    secret.chmod(0o644)
    config = site(tmp_path, zoo, media)
    cfg = yaml.safe_load(config.read_text())
    cfg["mqtt"]["signing"] = {"hmac_key_file": str(secret)}
    config.write_text(yaml.safe_dump(cfg))
    r = edgekit("run", "--config", config, "--max-frames", 1)
    one_line_error(r, "hmac_key_file", "chmod 600")
