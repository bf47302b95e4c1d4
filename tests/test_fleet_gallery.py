"""Enrol once, every door knows: a gallery export pushed over a real mosquitto to running doorbells (real sites, real
zoo models, carphone looped as a camera). Two doors on FaceRes take it and recognise the caller they had never
enrolled; a door on FaceNet refuses it; a corrupted chunk, an unsigned chunk and an unsigned gallery are refused and
the door keeps its gallery."""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.config import parse_config
from edge.faces.gallery import EmbedderTag, Gallery
from edge.site import run_site
from tests.fixtures.doorbell import live_camera, site
from tests.mqtt_broker import MOSQUITTO

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto (Debian package mosquitto)")

from edge.card import load_card  # noqa: E402
from edge.fleet.gallery_update import gallery_manifest  # noqa: E402
from fleetctl.operator import Operator  # noqa: E402
from fleetctl.signing import public_key_b64, sign_gallery  # noqa: E402
from tests.fixtures.mqtt import Consumer  # noqa: E402

OPERATOR = Ed25519PrivateKey.generate()  # signs commands
GALLERY_KEY = Ed25519PrivateKey.generate()  # signs galleries


def door(zoo, media, tmp_path, port, name: str, embedder: str) -> dict:
    folder = tmp_path / name
    folder.mkdir()
    cfg = site(
        zoo,
        media,
        folder / "gallery.db",
        folder,
        device_id=name,
        source=live_camera(media, fps=10),
        embedder={"model": embedder},
        mqtt={
            "host": "127.0.0.1",
            "port": port,
            "telemetry_interval_s": 1,
            "outbox": {"path": str(folder / "outbox.db")},
            "signing": {"ed25519_public_keys": [public_key_b64(OPERATOR)]},
            "gallery_update": {"public_key": public_key_b64(GALLERY_KEY)},
        },
    )
    return cfg


def export_of(zoo, gallery, tmp_path) -> Path:
    """An export of the caller (enrolled from the clip, with FaceRes's full tag) and a second identity."""
    tag = EmbedderTag.of_card(load_card(zoo / "faceres.card.json", verify=False))
    vectors, _ = Gallery(gallery).matrix("faceres")
    other = np.random.default_rng(3).normal(size=vectors.shape[1]).astype(np.float32)
    with Gallery(tmp_path / "office.db") as g:
        g.add("caller", tag, vectors)
        g.add("courier", tag, other / np.linalg.norm(other))
        g.export(tmp_path / "office.json")
    return tmp_path / "office.json"


def last(consumer: Consumer, suffix: str) -> dict:
    assert consumer.wait(lambda: consumer.on(suffix)), f"nothing on {suffix}"
    return consumer.on(suffix)[-1][0]


def test_a_gallery_pushed_to_the_fleet_is_taken_by_its_embedder_and_refused_by_another(
    zoo, media, gallery, broker, tmp_path
):
    export = export_of(zoo, gallery, tmp_path)
    doors = {
        "door-1": door(zoo, media, tmp_path, broker.port, "door-1", "faceres"),
        "door-2": door(zoo, media, tmp_path, broker.port, "door-2", "faceres"),
        "door-3": door(zoo, media, tmp_path, broker.port, "door-3", "facenet"),
    }
    Gallery(tmp_path / "door-2" / "gallery.db").add("old-friend", "faceres", np.ones(1024, np.float32))
    Gallery(tmp_path / "door-3" / "gallery.db").close()
    consumer = Consumer(broker.port, "edgekit/#")
    runners = []
    for cfg in doors.values():
        t = threading.Thread(target=run_site, args=(parse_config(cfg),), kwargs={"install_signals": False}, daemon=True)
        t.start()
        runners.append(t)
    op = Operator(port=broker.port, sign_key=OPERATOR)
    try:
        for name in doors:
            assert consumer.wait(lambda n=name: last(consumer, f"{n}/status")["state"] == "online", 60), name
        # door-1 had nobody enrolled: the caller is a stranger there
        assert consumer.wait(lambda: consumer.on("door-1/events/face_unknown"), 60)

        # the CLI: one line per device (accepted / refused: why / no answer)
        run = subprocess.run(
            [sys.executable, "-m", "edge.cli", "fleet", "push-gallery", str(export), "--port", str(broker.port)]
            + ["--devices", "door-1,door-2,door-3,door-9", "--key", str(key_file(tmp_path, GALLERY_KEY))]
            + ["--sign", str(key_file(tmp_path, OPERATOR, "op.pem")), "--timeout", "5"]
            + ["--db", f"sqlite:///{tmp_path / 'fleet.db'}"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        )
        lines = dict(line.split(": ", 1) for line in run.stdout.splitlines())
        assert run.returncode == 1, run.stdout + run.stderr
        assert lines["door-1"] == "accepted 2 identities (2 embeddings)", run.stdout
        assert lines["door-2"] == "accepted 2 identities (2 embeddings)", run.stdout
        assert lines["door-3"].startswith("refused: gallery_update: the gallery was enrolled with faceres"), run.stdout
        assert "this device embeds with facenet" in lines["door-3"], run.stdout
        assert lines["door-9"].startswith("no answer (fleet: no reply from door-9"), run.stdout

        # each device's progress, as `fleet ui` shows it: all sent to the two that took it, none to the others
        from fleetctl.store import open_store

        store = open_store(f"sqlite:///{tmp_path / 'fleet.db'}")
        pushes = {p["device"]: p for p in store.pushes()}
        store.close()
        size = export.stat().st_size
        assert {d: (p["outcome"], p["done"], p["total"]) for d, p in pushes.items()} == {
            "door-1": ("installed", size, size),
            "door-2": ("installed", size, size),
            "door-3": ("refused", 0, size),
            "door-9": ("no answer", 0, size),
        }
        assert len({p["push_id"] for p in pushes.values()}) == 1 and pushes["door-3"]["kind"] == "gallery"

        # the doors' galleries: replaced (door-2's old friend is gone), door-3's untouched
        for name in ("door-1", "door-2"):
            assert Gallery(tmp_path / name / "gallery.db").identities() == {"caller": 1, "courier": 1}
            assert consumer.wait(
                lambda n=name: last(consumer, f"{n}/state")["gallery"].get("last_update", {}).get("ok") is True
            )
        assert Gallery(tmp_path / "door-3" / "gallery.db").identities() == {}
        assert consumer.wait(  # its refusal is in its retained state, for the fleet page
            lambda: (
                "embeds with facenet"
                in last(consumer, "door-3/state")["gallery"].get("last_update", {}).get("message", "")
            )
        )
        # and door-1, which never enrolled anyone, now knows the caller (its one track was decided before the push,
        # and the looped clip never ends it: a fresh run of the door decides anew)
        before_restart = len(consumer.on("door-1/state"))
        assert op.command("door-1", "restart", timeout=10)["ok"]
        runners[0].join(30)
        assert not runners[0].is_alive()
        runners[0] = threading.Thread(
            target=run_site, args=(parse_config(doors["door-1"]),), kwargs={"install_signals": False}, daemon=True
        )
        runners[0].start()
        assert consumer.wait(
            lambda: any(b["identity"] == "caller" for b, _ in consumer.on("door-1/events/face_recognized")), 60
        )
        # the push's outcome outlives the restart: every state door-1 published since says the gallery was accepted
        after = consumer.on("door-1/state")[before_restart:]
        assert after and all(b["gallery"].get("last_update", {}).get("ok") is True for b, _ in after), after[-1][0]

        # a corrupted chunk: the sha256 fails at commit, door-1 keeps its gallery
        data, begin = sign_gallery(GALLERY_KEY, export)
        reply = op.command("door-1", "gallery_update", {"step": "begin", **begin})
        assert reply["ok"], reply
        tid = reply["result"]["transfer"]
        bad = bytearray(data)
        bad[len(bad) // 2] ^= 0x20
        chunk = {"step": "chunk", "transfer": tid, "index": 0, "data": base64.b64encode(bytes(bad)).decode()}
        assert op.command("door-1", "gallery_update", chunk)["ok"]
        reply = op.command("door-1", "gallery_update", {"step": "commit", "transfer": tid})
        assert reply["ok"] is False and "sha256 mismatch" in reply["error"], reply
        # the state door-1 republished after the restart says accepted: wait for the refusal's
        assert consumer.wait(
            lambda: last(consumer, "door-1/state")["gallery"].get("last_update", {}).get("ok") is False
        )
        assert Gallery(tmp_path / "door-1" / "gallery.db").identities() == {"caller": 1, "courier": 1}

        # a signed export with a NaN vector (sign_gallery would refuse to make one): refused at commit, nothing left
        doc = json.loads(export.read_text())
        doc["embeddings"][0]["vector"] = base64.b64encode(np.full(1024, np.nan, np.float32).tobytes()).decode()
        poisoned = json.dumps(doc).encode()
        sha = hashlib.sha256(poisoned).hexdigest()
        signature = base64.b64encode(GALLERY_KEY.sign(gallery_manifest(sha, begin["embedder"]))).decode()
        poisoned_begin = {**begin, "size": len(poisoned), "sha256": sha, "signature": signature}
        reply = op.push_gallery("door-1", poisoned, poisoned_begin)
        assert reply["ok"] is False and "the gallery is unchanged" in reply["error"] and "NaN" in reply["error"], reply
        assert Gallery(tmp_path / "door-1" / "gallery.db").identities() == {"caller": 1, "courier": 1}
        assert not list((tmp_path / "door-1" / ".incoming-gallery").iterdir())  # the staging file went too

        # an unsigned chunk (the command carries no signature): refused before it is written
        reply = op.command("door-2", "gallery_update", {"step": "begin", **begin})
        tid = reply["result"]["transfer"]
        unsigned = Operator(port=broker.port)
        try:
            chunk = {"step": "chunk", "transfer": tid, "index": 0, "data": base64.b64encode(data).decode()}
            reply = unsigned.command("door-2", "gallery_update", chunk)
        finally:
            unsigned.close()
        assert reply["ok"] is False and "is not signed" in reply["error"], reply

        # an unsigned gallery (no signature on the export): refused at begin
        _, unsigned_begin = sign_gallery(None, export)
        reply = op.command("door-2", "gallery_update", {"step": "begin", **unsigned_begin})
        assert reply["ok"] is False and "unsigned" in reply["error"], reply
        # a gallery signed by another key: refused at begin
        _, forged = sign_gallery(Ed25519PrivateKey.generate(), export)
        reply = op.command("door-2", "gallery_update", {"step": "begin", **forged})
        assert reply["ok"] is False and "bad signature" in reply["error"], reply
        assert Gallery(tmp_path / "door-2" / "gallery.db").identities() == {"caller": 1, "courier": 1}

        # the gallery key alone signs a push's steps (the door trusts it for gallery_update), and nothing else
        gallery_only = Operator(port=broker.port)
        try:
            reply = gallery_only.push_gallery("door-2", data, begin, GALLERY_KEY)
            assert reply["ok"] and reply["result"]["identities"] == 2, reply
            reply = gallery_only.command("door-2", "remove_identity", {"name": "caller"}, key=GALLERY_KEY)
            assert reply["ok"] is False and "bad signature" in reply["error"], reply
        finally:
            gallery_only.close()
    finally:
        for name in doors:
            try:
                op.command(name, "restart", timeout=10)
            except Exception:
                pass
        op.close()
        for t in runners:
            t.join(30)
        consumer.close()


def key_file(tmp_path: Path, key, name: str = "gallery.pem") -> Path:
    from cryptography.hazmat.primitives import serialization

    from edge.private import write_private

    path = tmp_path / "keys" / name
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private(path, pem)
    return path


def test_a_push_of_an_export_of_two_embedders_is_refused_before_it_is_sent(tmp_path):
    from edge.errors import EdgekitError

    with Gallery(tmp_path / "g.db") as g:
        g.add("ann", EmbedderTag("faceres", "a" * 64, 4), np.ones(4, np.float32))
        g.add("bob", EmbedderTag("facenet", "b" * 64, 4), np.ones(4, np.float32))
        g.export(tmp_path / "two.json")
    with pytest.raises(EdgekitError, match="made by 2 embedders"):
        sign_gallery(GALLERY_KEY, tmp_path / "two.json")
    (tmp_path / "broken.json").write_text(json.dumps({"format": "edgekit-gallery/1", "embeddings": [{"x": 1}]}))
    with pytest.raises(EdgekitError, match="broken.json: unreadable"):
        sign_gallery(GALLERY_KEY, tmp_path / "broken.json")


def test_a_replace_keeps_the_old_gallery_when_the_export_is_bad_or_of_another_embedder(tmp_path):
    from edge.errors import EdgekitError

    tag = EmbedderTag("faceres", "a" * 64, 4)
    with Gallery(tmp_path / "new.db") as g:
        g.add("ann", tag, np.ones(4, np.float32))
        g.add("bob", tag, np.arange(1, 5, dtype=np.float32))
        g.export(tmp_path / "new.json")
    with Gallery(tmp_path / "other.db") as g:
        g.add("eve", EmbedderTag("faceres", "b" * 64, 4), np.ones(4, np.float32))
        g.export(tmp_path / "other.json")
    doc = json.loads((tmp_path / "new.json").read_text())
    doc["embeddings"][1]["vector"] = base64.b64encode(np.array([1, np.nan, 0, 0], np.float32).tobytes()).decode()
    (tmp_path / "nan.json").write_text(json.dumps(doc))

    with Gallery(tmp_path / "door.db") as door:
        door.add("old-friend", tag, np.ones(4, np.float32))
        with pytest.raises(EdgekitError, match="made by faceres .*weights bbbbbbbbbb.*nothing changed"):
            door.replace(tmp_path / "other.json", tag)
        with pytest.raises(EdgekitError, match="NaN or infinity"):
            door.replace(tmp_path / "nan.json", tag)
        (tmp_path / "cut.json").write_text((tmp_path / "new.json").read_text()[:-20])
        with pytest.raises(EdgekitError, match="cut.json: unreadable"):
            door.replace(tmp_path / "cut.json", tag)
        assert door.identities() == {"old-friend": 1}  # every refusal left it as it was
        assert door.replace(tmp_path / "new.json", tag) == {"identities": 2, "embeddings": 2}
        assert door.identities() == {"ann": 1, "bob": 1}


def test_a_gallery_begin_is_checked_before_any_chunk(tmp_path):
    from edge.errors import EdgekitError
    from edge.fleet.config import GalleryUpdateConfig
    from edge.fleet.gallery_update import GalleryUpdater

    tag = EmbedderTag("faceres", "a" * 64, 4)
    updater = GalleryUpdater(
        GalleryUpdateConfig(public_key=public_key_b64(GALLERY_KEY)), tmp_path / "g.db", lambda: tag
    )
    with Gallery(tmp_path / "office.db") as g:
        g.add("ann", tag, np.ones(4, np.float32))
        g.export(tmp_path / "office.json")
    _, begin = sign_gallery(GALLERY_KEY, tmp_path / "office.json")
    for body, says in [
        ({**begin, "url": "http://127.0.0.1:9/office.json"}, "no 'url'"),
        ({**begin, "size": 0}, "size must be 1.."),
        ({**begin, "size": 10**9}, "raise mqtt.gallery_update.max_bytes"),
        ({**begin, "sha256": "../../etc"}, "sha256 must be 64"),
        ({**begin, "embedder": "faceres"}, "'embedder' must be"),
        ({**begin, "embedder": {**begin["embedder"], "dim": 8}}, "this device embeds with faceres (4-d"),
        ({**begin, "signature": "!!"}, "unsigned"),
    ]:
        with pytest.raises(EdgekitError, match=re.escape(says)):
            updater.command({"step": "begin", **body})
    assert updater.command({"step": "begin", **begin})["chunk_bytes"] == 32 * 1024
    assert not (tmp_path / "g.db").exists() or Gallery(tmp_path / "g.db").identities() == {}
