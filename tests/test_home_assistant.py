"""The doorbell and the shelf, as `edgekit run` processes on real footage and photos with the zoo's models, reporting to
a real mosquitto that a real Home Assistant core (2025.4.4, its MQTT integration) reads: every entity they announce
exists there, is available and holds a sensible value, read through Home Assistant's REST API; after Home Assistant
restarts, the snapshot camera still shows the same picture (retained on the broker, nothing sent again).

Home Assistant needs Python 3.13 and about 600 MB of packages, so it lives in a venv of its own: `make ha-check`
builds it (once) and runs this module; without that venv the module skips."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tests.fixtures.doorbell import live_camera, site
from tests.fixtures.home_assistant import HA_READY, HA_VERSION, HomeAssistant
from tests.mqtt_broker import MOSQUITTO, Broker

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto (Debian package mosquitto)"),
    pytest.mark.skipif(
        not HA_READY.exists(), reason=f"needs Home Assistant {HA_VERSION} in .cache/ha-venv: run `make ha-check`"
    ),
    pytest.mark.zoo,
    pytest.mark.shared_data,
]

DOOR, SHELF = "door-1", "shelf9"


def _run(config: dict, folder: Path) -> subprocess.Popen:
    """`edgekit run --config` as a device runs it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.yaml").write_text(yaml.safe_dump(config))
    with open(folder / "run.log", "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(folder / "site.yaml")],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _doorbell(zoo, media, gallery, tmp_path, port) -> dict:
    cfg = site(
        zoo,
        media,
        gallery,
        tmp_path / "door",
        # a camera's pace, looping: the device stays online while Home Assistant is read
        source=live_camera(media),
        mqtt={
            "host": "127.0.0.1",
            "port": port,
            "outbox": {"path": str(tmp_path / "door" / "outbox.db")},
            "discovery": {"enabled": True},
            # one snapshot (the first recognition) in the whole run: after Home Assistant's restart the camera can
            # only show it if the broker kept it
            "snapshots": {"camera": "porch", "on_events": ["face_recognized"], "min_interval_s": 3600},
        },
    )
    (tmp_path / "door").mkdir(exist_ok=True)
    return cfg


def _shelf(zoo, shared_data, tmp_path, port) -> dict:
    photos = tmp_path / "shelf" / "camera"
    photos.mkdir(parents=True)
    for i in range(3):
        shutil.copy(shared_data / "shelf" / "sku110k_sample" / "images" / f"test_{i}.jpg", photos / f"{i}.jpg")
    cfg = yaml.safe_load((ROOT / "configs" / "shelf.yaml").read_text())
    cfg.update(
        app="shelf",
        device_id=SHELF,
        source={"kind": "folder", "uri": str(photos), "pace": "realtime", "fps": 1, "at_end": "loop"},
        runtime={"models_dir": str(zoo)},
        events={"stdout": False, "file": str(tmp_path / "shelf" / "events.jsonl")},
        mqtt={
            "host": "127.0.0.1",
            "port": port,
            "discovery": {"enabled": True},
            "outbox": {"path": str(tmp_path / "shelf" / "outbox.db")},
        },
    )
    return cfg


def _available(states: dict, ids: list[str]) -> bool:
    return all(i in states and states[i]["state"] not in ("unavailable", "unknown") for i in ids)


def _snapshot(ha: HomeAssistant, camera: str) -> bytes:
    r = ha.api("GET", f"/api/camera_proxy/{camera}")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("image/jpeg"), (r.status_code, r.text[:200])
    return r.content


def test_home_assistant_shows_the_doorbell_and_the_shelf(zoo, media, gallery, shared_data, tmp_path):
    broker = Broker(tmp_path / "broker", persistent=True).start()
    ha = HomeAssistant(tmp_path / "ha")
    shelf_cfg = _shelf(zoo, shared_data, tmp_path, broker.port)
    node = DOOR.replace("-", "_")
    person, camera = f"binary_sensor.edgekit_{node}_person", f"camera.edgekit_{node}_snapshot"
    seen = f"sensor.edgekit_{node}_seen_caller"
    zones = [f"sensor.edgekit_{SHELF}_zone_{z['name']}" for z in shelf_cfg["shelf"]["zones"]]
    door = shelf = None
    try:
        ha.start()
        ha.onboard()
        assert ha.add_mqtt(broker.port)["result"]["state"] == "loaded"
        door = _run(_doorbell(zoo, media, gallery, tmp_path, broker.port), tmp_path / "door")
        shelf = _run(shelf_cfg, tmp_path / "shelf")
        # the caller recognised (last seen set), the shelf's first counts in: everything is there and has a value
        states = ha.wait_for(lambda s: _available(s, [person, camera, seen, *zones]), 240)
        assert states[person]["state"] in ("on", "off")
        assert states[person]["attributes"]["device_class"] == "occupancy"
        when = datetime.fromisoformat(states[seen]["state"])
        assert timedelta(0) <= datetime.now(timezone.utc) - when < timedelta(minutes=5), when
        assert states[seen]["attributes"]["device_class"] == "timestamp"
        counts = {z: states[z]["state"] for z in zones}
        assert all(v.isdigit() for v in counts.values()), counts
        assert sum(int(v) for v in counts.values()) > 0, counts  # a stocked shelf: something counted
        assert all(states[z]["attributes"]["unit_of_measurement"] == "items" for z in zones)
        jpeg = _snapshot(ha, camera)
        print({i: states[i]["state"] for i in (person, camera, seen, *zones)}, len(jpeg), "bytes")  # for the record
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (144, 176, 3)  # carphone

        ha.stop()  # Home Assistant restarts while both devices keep running
        ha.start()
        states = ha.wait_for(lambda s: _available(s, [person, camera, seen, *zones]), 120)
        assert _snapshot(ha, camera) == jpeg  # the retained picture: the device sent no other
        assert "Error" not in "".join(ln for ln in ha.log().splitlines() if "mqtt" in ln), ha.log()[-3000:]
    finally:
        for proc in (door, shelf):
            if proc is not None:
                _stop(proc)
        ha.stop()
        broker.stop()
    for name in ("door", "shelf"):  # the devices ran cleanly all along
        assert "Traceback" not in (tmp_path / name / "run.log").read_text(), (tmp_path / name / "run.log").read_text()
