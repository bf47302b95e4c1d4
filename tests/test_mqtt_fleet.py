"""`edgekit fleet` as an operator runs it (the real CLI in a subprocess) against a real mosquitto and a device link:
keygen, signed commands and their replies, ls from retained status, watch."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge.fleet.link import DeviceLink
from edge.fleet.security import SigningConfig
from tests.fixtures.mqtt import link_cfg
from tests.mqtt_broker import MOSQUITTO

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto (Debian package mosquitto)")


def edgekit(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_keygen_signed_commands_ls_and_watch(broker, tmp_path):
    key = tmp_path / "ops.key"
    r = edgekit("fleet", "keygen", "--out", str(key))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public = next(line.split(": ", 1)[1] for line in r.stdout.splitlines() if line.startswith("public key"))
    assert edgekit("fleet", "keygen", "--out", str(key)).returncode != 0  # never overwrites a key

    cfg = link_cfg(broker.port, tmp_path, device_id="door10", signing=SigningConfig(ed25519_public_keys=[public]))
    link = DeviceLink(cfg, {"app": "doorbell"})
    link.on_command("echo", lambda body: {"text": body.get("text")})
    link.start()
    assert link.connected.wait(5)
    port = ["--port", str(broker.port)]

    r = edgekit("fleet", "cmd", *port, "--sign", str(key), "door10", "echo", "text=hello", "--timeout", "10")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["result"] == {"text": "hello"}
    r = edgekit("fleet", "cmd", *port, "door10", "echo", "text=hello", "--timeout", "10")  # unsigned
    assert r.returncode == 1 and "not signed" in json.loads(r.stdout)["error"]
    r = edgekit("fleet", "cmd", *port, "--sign", str(key), "door10", "commands", "--timeout", "10")
    assert {"commands", "echo"} <= set(json.loads(r.stdout)["result"]["commands"])

    r = edgekit("fleet", "ls", *port, "--json", "--wait", "1.5")
    (row,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert row["device"] == "door10" and row["status"]["state"] == "online" and row["status"]["app"] == "doorbell"
    assert "outbox_depth" in row["telemetry"]

    watcher = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "fleet", "watch", *port, "door10", "--count", "3", "--seconds", "30"],
        stdout=subprocess.PIPE,
        text=True,
    )
    threading.Timer(1.5, lambda: [link.sink.emit({"type": "face_unknown", "n": i}) for i in range(3)]).start()
    out, _ = watcher.communicate(timeout=40)
    assert [json.loads(line)["n"] for line in out.splitlines()] == [0, 1, 2]

    link.stop()
    r = edgekit("fleet", "ls", *port, "--wait", "0.5")
    assert "door10" in r.stdout and "offline" in r.stdout


def test_fleet_errors_are_one_line(tmp_path):
    r = edgekit("fleet", "ls", "--port", "1", "--wait", "0.1")
    assert (
        r.returncode == 2
        and r.stderr.startswith("error: fleet: cannot reach the broker 127.0.0.1:1")
        and "Traceback" not in r.stderr
    )
    r = edgekit("fleet", "cmd", "--port", "1", "--sign", str(tmp_path / "missing.key"), "d", "x")
    assert r.returncode == 2 and "signing key" in r.stderr and "keygen" in r.stderr


def test_watch_drops_a_redelivery_but_not_the_same_seq_from_a_new_outbox():
    """`fleet watch` tells repeats by device, outbox epoch and seq: a wiped outbox starts at seq 1 again."""
    from fleetctl.operator import Repeats

    repeats, topic = Repeats(), "edgekit/door1/events/face_unknown"
    old = json.dumps({"device_id": "door1", "epoch": "a" * 16, "seq": 1}).encode()
    new = json.dumps({"device_id": "door1", "epoch": "b" * 16, "seq": 1}).encode()
    assert not repeats.seen(topic, old) and repeats.seen(topic, old)  # QoS 1 redelivery: dropped
    assert not repeats.seen(topic, new)  # the same seq from a new outbox: shown
