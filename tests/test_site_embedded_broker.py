"""A site whose config sets no broker (`mqtt:` without `host`) runs its own in-process broker on 127.0.0.1: an operator
on the device sees the retained status and state and gets replies to commands, with nothing else running."""
import json
import socket
import threading
import time

import pytest

from edge.config import parse_config
from edge.site import run_site
from tests.mqtt_broker import free_port
from tests.fixtures.doorbell import site

pytest.importorskip("amqtt", reason="the in-process broker is the `broker` extra (amqtt)")

from tests.fixtures.mqtt import Consumer  # noqa: E402


def wait_listening(port: int, timeout: float = 20.0) -> None:
    end = time.time() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            assert time.time() < end, f"nothing listens on 127.0.0.1:{port}"
            time.sleep(0.05)


def test_no_broker_configured_runs_one_in_process(zoo, media, gallery, tmp_path):  # noqa: F811
    port = free_port()
    cfg = parse_config(site(zoo, media, gallery, tmp_path, source={"uri": str(media("carphone")), "pace": "realtime", "fps": 30, "at_end": "loop"},
                            mqtt={"port": port, "outbox": {"path": str(tmp_path / "outbox.db")}}))
    assert cfg.mqtt.embedded
    result = {}
    # at most 20 s of camera; the `restart` command ends it sooner
    runner = threading.Thread(target=lambda: result.update(run_site(cfg, max_frames=600, install_signals=False)))
    runner.start()
    try:
        wait_listening(port)
        consumer = Consumer(port, "edgekit/door-1/#")
        assert consumer.wait(lambda: consumer.on("status") and consumer.on("state"))
        status, retained = consumer.on("status")[-1]
        assert retained and status["state"] == "online" and set(status["models"]) == {"blazeface_short", "faceres"}
        consumer.c.publish("edgekit/door-1/cmd/identities", json.dumps({"id": 1}), qos=1)
        assert consumer.wait(lambda: consumer.on("cmd/identities/reply"))
        assert consumer.on("cmd/identities/reply")[0][0] == {"id": 1, "ok": True, "result": {"identities": {"caller": 1}}}
        consumer.c.publish("edgekit/door-1/cmd/restart", json.dumps({"id": 2}), qos=1)
        assert consumer.wait(lambda: consumer.on("cmd/restart/reply"))
        consumer.close()
    finally:
        runner.join(40)
    assert result["restart_requested"] and result["frames"] < 600
