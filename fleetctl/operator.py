"""The operator side of the fleet: one MQTT client that reads retained status, watches events, sends commands and
waits for their replies (MQTT 5 response topic + correlation data), and pushes signed models in chunks."""

from __future__ import annotations

import base64
import json
import queue
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.errors import EdgekitError
from edge.fleet.link import no_delay
from fleetctl.signing import sign_command

DEVICE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # a device id (mqtt.device_id): one topic level, no wildcards
COMMAND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class Operator:
    """Speaks MQTT 5 (response topics, reason codes) and falls back to 3.1.1 for a broker that only speaks that (the
    in-process amqtt one); over 3.1.1 replies come on the device's `cmd/<name>/reply`, matched by the command's id."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        root: str = "edgekit",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        sign_key=None,
    ):
        self.root, self.sign_key = root.rstrip("/"), sign_key
        self.id = f"edgekit-op-{uuid.uuid4().hex[:10]}"
        self.reply_topic = f"{self.root}/_ops/{self.id}/reply"
        self.pending: dict[bytes | str, queue.SimpleQueue] = {}
        self.listeners: list[Callable] = []
        self.ready = threading.Event()
        self._login = (username, password, ca_file, cert_file, key_file)
        self._reply_subscriptions: set[str] = set()
        refused = self._connect(host, port, mqtt.MQTTv5)
        if refused == "no answer":  # a 3.1.1-only broker drops an MQTT 5 CONNECT without a word
            self.c.loop_stop()
            self.c.disconnect()
            refused = self._connect(host, port, mqtt.MQTTv311)
            if refused == "no answer":
                raise EdgekitError(
                    f"fleet: {host}:{port} answered neither an MQTT 5 nor an MQTT 3.1.1 CONNECT",
                    "is it an MQTT broker? check --host/--port (and --ca for a TLS port)",
                )
        if refused:
            self.c.loop_stop()
            raise EdgekitError(
                f"fleet: the broker {host}:{port} refused the login ({refused})",
                "check --username/--password (the in-process broker's are in its state folder, "
                "broker-credentials.json)",
            )

    def _connect(self, host: str, port: int, protocol: int) -> str | None:
        """Connect with `protocol`: None when accepted, else the broker's reason or 'no answer'."""
        username, password, ca_file, cert_file, key_file = self._login
        self.v5 = protocol == mqtt.MQTTv5
        self.ready.clear()
        self._refused: str | None = None
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.id, protocol=protocol)
        if username:
            self.c.username_pw_set(username, password)
        if ca_file:
            self.c.tls_set(ca_certs=ca_file, certfile=cert_file, keyfile=key_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.c.on_connect, self.c.on_message, self.c.on_socket_open = self._on_connect, self._on_message, no_delay
        try:
            self.c.connect(host, port)
        except ssl.SSLError as e:
            raise EdgekitError(
                f"fleet: TLS handshake with {host}:{port} failed ({e})", "check --ca/--cert/--key"
            ) from None
        except OSError as e:
            raise EdgekitError(
                f"fleet: cannot reach the broker {host}:{port} ({e.strerror or e})", "check --host/--port"
            ) from None
        self.c.loop_start()
        if not self.ready.wait(3 if self.v5 else 10):  # loopback or LAN: a CONNACK comes in milliseconds
            return "no answer"
        return self._refused

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self._refused = str(reason_code)
            self.ready.set()
            client.disconnect()
            return
        if self.v5:
            client.subscribe(self.reply_topic, qos=1)
        self.ready.set()

    def _on_message(self, client, userdata, msg):
        if msg.topic == self.reply_topic:
            corr = getattr(msg.properties, "CorrelationData", None)
            q = self.pending.get(corr)
            if q is not None:
                q.put(msg.payload)
            return
        if not self.v5 and msg.topic.endswith("/reply"):  # 3.1.1: the device's reply topic, matched by id
            try:
                q = self.pending.get(str(json.loads(msg.payload).get("id")))
            except (ValueError, AttributeError):
                q = None
            if q is not None:
                q.put(msg.payload)
                return
        for fn in list(self.listeners):
            fn(msg)

    def collect(self, topics: list[str], seconds: float) -> list:
        got: list = []
        self.listeners.append(got.append)
        for t in topics:
            self.c.subscribe(t, qos=1)
        time.sleep(seconds)
        self.listeners.remove(got.append)
        for t in topics:
            self.c.unsubscribe(t)
        return got

    def devices(self, seconds: float = 1.0) -> dict[str, dict]:
        """Devices known from retained status, with their last telemetry if one arrives within `seconds`."""
        out: dict[str, dict] = {}
        for msg in self.collect([f"{self.root}/+/status", f"{self.root}/+/telemetry"], seconds):
            device, kind = msg.topic.split("/")[-2:]
            try:
                body = json.loads(msg.payload)
            except ValueError:
                continue
            out.setdefault(device, {})[kind] = body
        return out

    def command(self, device: str, name: str, body: dict | None = None, timeout: float = 30.0, key=None) -> dict:
        """Send command `name` to `device` (signed with `key`, else the operator's sign_key) and wait for its reply."""
        if not isinstance(device, str) or not DEVICE.match(device):
            raise EdgekitError(
                f"fleet: device {device!r} is not a device id (letters, digits, _ . -; no wildcards)",
                "name one device; `edgekit fleet ls` lists them",
            )
        if not isinstance(name, str) or not COMMAND.match(name):
            raise EdgekitError(
                f"fleet: command name {name!r}: lower-case letters, digits and _",
                f"`edgekit fleet cmd {device} commands` lists them",
            )
        body = dict(body or {})
        body.setdefault("id", uuid.uuid4().hex[:12])
        key = key if key is not None else self.sign_key
        if key is not None:
            body = sign_command(device, name, body, ed25519=key)
        topic = f"{self.root}/{device}/cmd/{name}"
        q: queue.SimpleQueue = queue.SimpleQueue()
        props = None
        if self.v5:
            corr = uuid.uuid4().bytes
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic, props.CorrelationData = self.reply_topic, corr
        else:
            corr = str(body["id"])
            if topic not in self._reply_subscriptions:  # before the command goes out: the broker keeps the order
                self.c.subscribe(topic + "/reply", qos=1)
                self._reply_subscriptions.add(topic)
        self.pending[corr] = q
        try:
            self.c.publish(topic, json.dumps(body), qos=1, properties=props)
            try:
                return json.loads(q.get(timeout=timeout))
            except queue.Empty:
                raise EdgekitError(
                    f"fleet: no reply from {device} to {name} within {timeout:g} s",
                    "is it online? (`edgekit fleet ls`)",
                ) from None
        finally:
            self.pending.pop(corr, None)

    def push_model(
        self,
        device: str,
        model: str,
        tflite: bytes,
        card: dict,
        private_key,
        progress: Callable[[int, int], None] | None = None,
        timeout: float = 60.0,
        url: str | None = None,
    ) -> dict:
        """Send a signed model in chunks, or only its signed description when the device is to fetch the file from
        `url`; returns the device's final reply (ok or why not)."""
        from fleetctl.signing import sign_model

        card = {**card, "name": model, "tflite": f"{model}.tflite"}
        begin = {"step": "begin", **sign_model(private_key, model, tflite, card)}
        signer = self.sign_key or private_key  # every step is a signed command; the device trusts the model key too
        if url is not None:  # the device downloads, checks and installs in one step
            return self.command(device, "model_update", {**begin, "url": url}, max(timeout, 300), key=signer)
        return self._send_chunks(device, "model_update", begin, tflite, signer, progress, timeout)

    def push_gallery(
        self,
        device: str,
        export: bytes,
        begin: dict,
        private_key=None,
        progress: Callable[[int, int], None] | None = None,
        timeout: float = 60.0,
    ) -> dict:
        """Send a gallery export (`begin`: fleetctl.signing.sign_gallery's fields) in chunks; the device replaces its
        gallery on commit or keeps it and says why."""
        signer = self.sign_key or private_key
        begin = {"step": "begin", **begin}
        return self._send_chunks(device, "gallery_update", begin, export, signer, progress, timeout)

    def _send_chunks(self, device, command, begin, data: bytes, signer, progress, timeout) -> dict:
        """A transfer's begin, chunks (the size the device asks for) and commit, each a signed command; the first
        refusal ends it and is returned."""
        reply = self.command(device, command, begin, timeout, key=signer)
        if not reply.get("ok"):
            return reply
        tid, size = reply["result"]["transfer"], reply["result"]["chunk_bytes"]
        for i, at in enumerate(range(0, len(data), size)):
            chunk = {
                "step": "chunk",
                "transfer": tid,
                "index": i,
                "data": base64.b64encode(data[at : at + size]).decode(),
            }
            reply = self.command(device, command, chunk, timeout, key=signer)
            if not reply.get("ok"):
                return reply
            if progress:
                progress(min(at + size, len(data)), len(data))
        return self.command(device, command, {"step": "commit", "transfer": tid}, max(timeout, 120), key=signer)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


class Repeats:
    """QoS 1 is at-least-once: after a device is killed mid-drain the broker may deliver an event again (23 repeats
    in the probe). An event is its (device, outbox epoch, seq): `seen` says whether that one came already. Bounded
    memory."""

    def __init__(self, keep: int = 100_000):
        from collections import OrderedDict

        self.keep, self._seen = keep, OrderedDict()

    def seen(self, topic: str, payload: bytes) -> bool:
        try:
            event = json.loads(payload)
        except ValueError:
            return False
        if not isinstance(event, dict) or not isinstance(event.get("seq"), int):
            return False  # nothing to tell repeats by: shown
        device = event.get("device_id") or topic.split("/")[-3]
        key = (str(device), str(event.get("epoch", "")), event["seq"])
        if key in self._seen:
            return True
        self._seen[key] = None
        if len(self._seen) > self.keep:
            self._seen.popitem(last=False)
        return False


def read_model(card_path: Path) -> tuple[bytes, dict]:
    """A built artifact: NAME.card.json and the .tflite it names, checked against the card's sha256."""
    from edge.card import load_card

    card = load_card(card_path)
    return card.path.read_bytes(), json.loads(Path(card_path).read_text())
