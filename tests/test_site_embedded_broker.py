"""A site whose config sets no broker (`mqtt:` without `host`) runs its own in-process broker on 127.0.0.1: an operator
on the device sees the retained status and state and gets replies to commands, with nothing else running."""

import json
import threading

import pytest

from edge.config import parse_config
from edge.ports import free_port, listening
from edge.site import run_site
from tests.fixtures.doorbell import live_camera, site

pytest.importorskip("amqtt", reason="the in-process broker is the `broker` extra (amqtt)")

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from fleetctl.signing import public_key_b64, sign_command  # noqa: E402
from tests.fixtures.mqtt import Consumer, embedded_login  # noqa: E402

KEY = Ed25519PrivateKey.generate()


def test_no_broker_configured_runs_one_in_process(zoo, media, gallery, tmp_path, monkeypatch):  # noqa: F811
    port = free_port()
    login = embedded_login(monkeypatch, tmp_path)  # the broker takes no anonymous client; commands are signed
    cfg = parse_config(
        site(
            zoo,
            media,
            gallery,
            tmp_path,
            source=live_camera(media),
            mqtt={
                "port": port,
                "outbox": {"path": str(tmp_path / "outbox.db")},
                "signing": {"ed25519_public_keys": [public_key_b64(KEY)]},
            },
        )
    )
    assert cfg.mqtt.embedded
    result = {}
    # at most 20 s of camera; the `restart` command ends it sooner
    runner = threading.Thread(
        target=lambda: result.update(run_site(cfg, max_frames=600, install_signals=False)), daemon=True
    )
    runner.start()
    try:
        assert listening(port, 20), f"nothing listens on 127.0.0.1:{port}"
        consumer = Consumer(port, "edgekit/door-1/#", login=login)
        assert consumer.wait(lambda: consumer.on("status") and consumer.on("state"))
        status, retained = consumer.on("status")[-1]
        assert retained and status["state"] == "online" and set(status["models"]) == {"blazeface_short", "faceres"}
        signed = sign_command("door-1", "identities", {"id": 1}, ed25519=KEY)
        consumer.c.publish("edgekit/door-1/cmd/identities", json.dumps(signed), qos=1)
        assert consumer.wait(lambda: consumer.on("cmd/identities/reply"))
        assert consumer.on("cmd/identities/reply")[0][0] == {
            "id": 1,
            "ok": True,
            "result": {"identities": {"caller": 1}},
        }
        signed = sign_command("door-1", "restart", {"id": 2}, ed25519=KEY)
        consumer.c.publish("edgekit/door-1/cmd/restart", json.dumps(signed), qos=1)
        assert consumer.wait(lambda: consumer.on("cmd/restart/reply"))
        consumer.close()
    finally:
        runner.join(40)
    assert result["restart_requested"] and result["frames"] < 600
