"""Issue 10, security defaults: commands that change the device are refused unless signed, by default; read-only ones
only if the site says so; `allow_unsigned` is a loud lab switch; replies go only to reply topics. Each against a real
mosquitto and a device started with `edgekit run`."""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path

import cv2
import pytest

from tests.hostile.cli import edgekit
from tests.hostile.secure_common import Client, Device, keygen, reply, wait_online
from tests.mqtt_broker import MOSQUITTO, Broker

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto (Debian package mosquitto)")

CHANGING = {  # what an attacker on the broker sent in the probe, unsigned
    "set_config": {"config": {"thresholds": {"recognize": 0.05, "unknown": 0.0}}},
    "remove_identity": {"name": "Barack Obama"},
    "restart": {},
}


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


def started(tmp_path_factory, zoo, media, broker, name: str, signing: dict | None, notify: bool = False):
    d = tmp_path_factory.mktemp(name)
    mqtt_section = {"host": "127.0.0.1", "port": broker.port, "protocol": "5"}
    if signing is not None:
        mqtt_section["signing"] = signing
    device = Device(d, zoo, media, mqtt_section, device_id=name)
    r = edgekit("faces", "enroll", "Barack Obama", media("obama"), "--config", device.config)
    assert r.returncode == 0, r.stderr[-2000:]
    client = Client(broker.port, f"edgekit/{name}/#")
    env = None
    if notify:  # systemd's notify socket, as the service gets it: READY's STATUS= is what `systemctl status` shows
        device.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        device.notify.bind(str(d / "notify.sock"))
        device.notify.settimeout(0.5)
        env = {"NOTIFY_SOCKET": str(d / "notify.sock")}
    device.start(env)
    device.status = wait_online(client, device)
    device.client = client
    return device


@pytest.fixture(scope="module")
def default_device(tmp_path_factory, zoo, media, broker):
    device = started(tmp_path_factory, zoo, media, broker, "door-default", None)
    yield device
    device.client.close()
    device.stop()


@pytest.fixture(scope="module")
def keyed_device(tmp_path_factory, zoo, media, broker):
    key = tmp_path_factory.mktemp("ops") / "ops.key"
    public = keygen(key)
    device = started(
        tmp_path_factory,
        zoo,
        media,
        broker,
        "door-keyed",
        {"ed25519_public_keys": [public], "unsigned_read_only": True},
    )
    device.key = key
    yield device
    device.client.close()
    device.stop()


@pytest.fixture(scope="module")
def lab_device(tmp_path_factory, zoo, media, broker):
    device = started(tmp_path_factory, zoo, media, broker, "door-lab", {"allow_unsigned": True}, notify=True)
    yield device
    device.client.close()
    device.stop()
    device.notify.close()


def send(device: Device, name: str, body: dict, response_topic: str | None = None) -> dict:
    topic = device.prefix + f"cmd/{name}/reply"
    seen = len(device.client.on(topic))
    device.client.send(device.prefix + f"cmd/{name}", {"id": name, **body}, response_topic)
    return reply(device.client, topic, seen)


def identities(device: Device) -> list[str]:
    r = edgekit("faces", "list", "--config", device.config)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def small_jpeg(path: Path) -> str:
    """A photo scaled to fit the default 64 KiB command limit, base64 (what `enroll` takes)."""
    image = cv2.imread(str(path))
    image = cv2.resize(image, (240, int(240 * image.shape[0] / image.shape[1])))
    return base64.b64encode(cv2.imencode(".jpg", image)[1].tobytes()).decode()


def test_secure_changing_commands_are_refused_unsigned_by_default(default_device, media):
    body = dict(CHANGING, enroll={"name": "Barack Obama", "image": small_jpeg(media("biden"))})
    for name, args in body.items():
        got = send(default_device, name, args)
        assert got["ok"] is False and "not signed" in got["error"], (name, got)
        assert "mqtt.signing" in got["error"] or "allow_unsigned" in got["error"], got  # says how to set it up
    time.sleep(1)
    assert default_device.alive() and "restarting" not in default_device.log()
    assert "Barack Obama" in identities(default_device)
    state = json.loads(default_device.client.on(default_device.prefix + "state")[-1])
    assert state["config"]["thresholds"]["recognize"] != 0.05


def test_secure_read_only_commands_need_a_signature_unless_the_site_opens_them(default_device, keyed_device):
    got = send(default_device, "stats", {})
    assert got["ok"] is False and "not signed" in got["error"], got
    got = send(keyed_device, "stats", {})  # mqtt.signing.unsigned_read_only: true
    assert got["ok"] is True and "frames" in got["result"], got
    got = send(keyed_device, "remove_identity", {"name": "Barack Obama"})
    assert got["ok"] is False and "not signed" in got["error"], got


def test_secure_signed_changes_still_work_from_the_fleet_cli(keyed_device, broker):
    r = edgekit(
        "fleet",
        "cmd",
        keyed_device.device_id,
        "set_config",
        "--port",
        broker.port,
        "--sign",
        keyed_device.key,
        "--json",
        json.dumps({"config": {"thresholds": {"recognize": 0.62, "unknown": 0.5}}}),
    )
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert json.loads(r.stdout)["result"] == {"applied": ["thresholds"]}


def test_secure_the_refusal_names_the_option_that_signs(keyed_device):
    """Bug 11, second half: the hint said `fleet cmd` signs with --key; the option is --sign."""
    got = send(keyed_device, "restart", {})
    assert got["ok"] is False and "--sign" in got["error"] and "--key" not in got["error"], got


def test_secure_a_response_topic_on_the_command_tree_does_not_restart_the_device(keyed_device):
    """The probe: `stats` with MQTT 5 ResponseTopic `<prefix>cmd/restart` made the device restart itself."""
    c = keyed_device.client
    target = keyed_device.prefix + "cmd/restart"
    got = send(keyed_device, "stats", {}, response_topic=target)
    assert got["ok"] is False and "response topic" in got["error"], got
    time.sleep(2)
    assert c.on(target) == [] or all(b"frames" not in p for p in c.on(target))  # nothing answered there
    assert keyed_device.alive() and "restarting" not in keyed_device.log()
    status = json.loads(c.on(keyed_device.prefix + "status")[-1])
    assert status["state"] == "online" and status["since"] == keyed_device.status["since"]


def test_secure_allow_unsigned_is_loud(lab_device):
    assert "allow_unsigned" in lab_device.log() and "WARNING" in lab_device.log().upper()
    assert lab_device.status.get("allow_unsigned") is True  # the retained status says so too
    ready = []
    end = time.time() + 20
    while time.time() < end and not ready:
        try:
            ready = [m for m in lab_device.notify.recv(4096).decode().splitlines() if m.startswith("STATUS=")]
        except TimeoutError:
            pass
    assert ready and "WARNING: unsigned commands allowed" in ready[0], ready  # and systemd's status line
    got = send(lab_device, "set_config", {"config": {"thresholds": {"recognize": 0.61, "unknown": 0.5}}})
    assert got["ok"] is True, got
