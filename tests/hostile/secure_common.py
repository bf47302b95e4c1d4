"""What the security-default reproductions share: the public CLI in a real process, a doorbell device run with
`edgekit run` against a real broker, and a raw MQTT 5 client playing the operator or the attacker on the same broker.
Nothing here imports the device's fleet modules, so the tests hold across the runtime's reshaping."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.fixtures.doorbell import live_camera
from tests.hostile.cli import ROOT, cli_env, edgekit


def keygen(path: Path) -> str:
    """A key pair from `edgekit fleet keygen`: the private key at path, the public key returned."""
    r = edgekit("fleet", "keygen", "--out", path)
    assert r.returncode == 0, r.stderr
    return next(line.split(": ", 1)[1] for line in r.stdout.splitlines() if line.startswith("public key:"))


class Client:
    """A raw MQTT client on the broker: collects what arrives under `topic`, publishes anything."""

    def __init__(self, port: int, topic: str = "edgekit/#", v5: bool = True, username=None, password=None):
        self.messages: list[tuple[str, bytes, bool, object]] = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"probe-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        )
        if username:
            self.c.username_pw_set(username, password)
        self.connack = threading.Event()
        self.refused = None
        subscribed = threading.Event()

        def on_connect(c, u, f, rc, p):
            self.refused = rc if rc.is_failure else None
            self.connack.set()
            if not rc.is_failure:
                c.subscribe(topic, qos=1)

        self.c.on_connect = on_connect
        self.c.on_subscribe = lambda *a: subscribed.set()
        self.c.on_message = lambda c, u, m: self._on(m)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.connack.wait(5)
        self.ok = self.refused is None and subscribed.wait(5)

    def _on(self, m) -> None:
        with self.lock:
            self.messages.append((m.topic, m.payload, m.retain, getattr(m, "properties", None)))

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _, _ in self.messages if t == topic]

    def wait(self, pred, timeout: float = 20.0) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            if pred():
                return True
            time.sleep(0.05)
        return False

    def send(self, topic: str, body: dict | bytes, response_topic: str | None = None) -> bytes:
        """Publish a command; MQTT 5 response topic and correlation data if asked. Returns the correlation data."""
        props, corr = None, uuid.uuid4().bytes
        if response_topic:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic, props.CorrelationData = response_topic, corr
        payload = body if isinstance(body, bytes) else json.dumps(body)
        self.c.publish(topic, payload, qos=1, properties=props).wait_for_publish(5)
        return corr

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


class Device:
    """`edgekit run` on a looping real clip, with the given mqtt section, until stop()."""

    def __init__(self, tmp_path: Path, zoo: Path, media, mqtt_section: dict, device_id: str = "door-1", **sections):
        self.dir = tmp_path
        self.device_id = device_id
        self.prefix = f"edgekit/{device_id}/"
        mqtt_section = {"outbox": {"path": str(tmp_path / "outbox.db")}, **mqtt_section}
        self.cfg = {
            "device_id": device_id,
            "runtime": {"models_dir": str(zoo)},
            "gallery": {"path": str(tmp_path / "gallery.db")},
            "source": live_camera(media, fps=15),
            "events": {"stdout": False, "file": str(tmp_path / "events.jsonl")},
            "mqtt": mqtt_section,
            **sections,
        }
        self.config = tmp_path / "site.yaml"
        self.config.write_text(yaml.safe_dump(self.cfg))
        self.proc = None
        self.stderr = ""

    def start(self, env: dict | None = None) -> Device:
        self.err_path = self.dir / "run.stderr"
        self._err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=self._err,
            cwd=ROOT,
            env=cli_env(env),
        )
        return self

    def log(self) -> str:
        return self.err_path.read_text() if self.proc else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> str:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            self._err.close()
        return self.log()


def wait_online(client: Client, device: Device, timeout: float = 60.0) -> dict:
    """The device's retained status once it says online."""

    def online():
        got = client.on(device.prefix + "status")
        return got and json.loads(got[-1]).get("state") == "online"

    assert client.wait(online, timeout), f"{device.device_id} never came online: {device.log()[-3000:]}"
    return json.loads(client.on(device.prefix + "status")[-1])


def reply(client: Client, topic: str, after: int = 0, timeout: float = 20.0) -> dict:
    """The next reply on `topic` (after the `after` replies already seen there)."""
    assert client.wait(lambda: len(client.on(topic)) > after, timeout), f"no reply on {topic}"
    return json.loads(client.on(topic)[after])
