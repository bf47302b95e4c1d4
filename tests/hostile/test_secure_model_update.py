"""Issue 10: a model update's `begin` is signed and carries a nonce like every other command. The probe: a captured
`begin` replayed 30 times, without credentials, held 30 open files and 9 MB of staging files on the device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.cli import edgekit
from tests.hostile.secure_common import Client, Device, keygen, wait_online
from tests.mqtt_broker import MOSQUITTO, Broker

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto (Debian package mosquitto)")
NAME = "blazeface_short"


def test_secure_a_captured_model_update_begin_cannot_be_replayed(tmp_path, zoo, media, device_models):
    broker = Broker(tmp_path / "broker").start()
    public = keygen(tmp_path / "models.key")
    device = Device(
        tmp_path,
        device_models,
        media,
        {"host": "127.0.0.1", "port": broker.port, "model_update": {"public_key": public}},
        device_id="door-mu",
    )
    spy = Client(broker.port, "edgekit/door-mu/#")  # anyone on the broker sees the commands go by
    try:
        device.start()
        wait_online(spy, device)
        # the operator pushes with the model key only (no separate command key): the push still works
        r = edgekit(
            "fleet",
            "push-model",
            zoo / f"{NAME}.card.json",
            "--devices",
            "door-mu",
            "--key",
            tmp_path / "models.key",
            "--port",
            broker.port,
            timeout=180,
        )
        assert r.returncode == 0 and "installed" in r.stdout, (r.stdout, r.stderr[-2000:])
        begins = [json.loads(p) for p in spy.on(device.prefix + "cmd/model_update")]
        begin = next(b for b in begins if b.get("step") == "begin")
        assert {"sig", "nonce", "ts"} <= set(begin), sorted(begin)  # signed like any other command

        topic = device.prefix + "cmd/model_update/reply"
        seen = len(spy.on(topic))
        for _ in range(30):
            spy.send(device.prefix + "cmd/model_update", begin)
        unsigned = {k: v for k, v in begin.items() if k not in ("sig", "nonce", "ts")}
        spy.send(device.prefix + "cmd/model_update", unsigned)
        assert spy.wait(lambda: len(spy.on(topic)) >= seen + 31, 30), device.log()[-2000:]
        replies = [json.loads(p) for p in spy.on(topic)[seen : seen + 31]]
        assert all(not r["ok"] and "replayed" in r["error"] for r in replies[:30]), replies[:3]
        assert not replies[30]["ok"] and "not signed" in replies[30]["error"], replies[30]
        staging = device_models / ".incoming"
        assert not staging.exists() or list(staging.iterdir()) == []
    finally:
        spy.close()
        device.stop()
        broker.stop()
