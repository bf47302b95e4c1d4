"""Issue 10: the operator's CLI against a real mosquitto. Bug 8, second half: `fleet cmd '+' stats` raised
`ValueError: Publish topic cannot contain wildcards`. Duplicates: QoS 1 is at-least-once (23 repeated sequence numbers
after a kill -9 during a drain), so `fleet watch` drops repeats by (device, seq)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hostile.cli import ROOT, cli_env, edgekit, one_line_error
from tests.hostile.secure_common import Client
from tests.mqtt_broker import MOSQUITTO, Broker

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto (Debian package mosquitto)")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.mark.parametrize("device", ["+", "#", "door/1", "door-1/+"])
def test_secure_fleet_cmd_refuses_a_wildcard_device_in_one_line(broker, device):
    r = edgekit("fleet", "cmd", device, "stats", "--port", broker.port, "--timeout", 2)
    one_line_error(r, "device", repr(device) if device != "+" else "'+'")


def test_secure_fleet_cmd_refuses_a_wildcard_command_name(broker):
    r = edgekit("fleet", "cmd", "door-1", "st+ats", "--port", broker.port, "--timeout", 2)
    one_line_error(r, "command name")


def test_secure_fleet_watch_drops_duplicate_sequence_numbers(broker):
    watch = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "fleet", "watch", "--port", str(broker.port), "--seconds", "6"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=cli_env(),
    )
    pub = Client(broker.port, "nothing/here")
    try:
        events = [("door-a", 5), ("door-a", 6), ("door-b", 5)]  # the same seq on another device is another event
        end = time.time() + 4.5
        while time.time() < end:  # redelivered again and again, as after a kill -9 during a drain
            for device, seq in events:
                body = {"type": "face_unknown", "id": f"{device}-{seq}", "seq": seq, "device_id": device}
                pub.send(f"edgekit/{device}/events/face_unknown", body)
            time.sleep(0.2)
        out, err = watch.communicate(timeout=20)
    finally:
        pub.close()
        if watch.poll() is None:
            watch.kill()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert sorted((e["device_id"], e["seq"]) for e in lines) == sorted(events), (out[-2000:], err[-2000:])
