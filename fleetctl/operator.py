"""The operator side of the fleet: one MQTT client that reads retained status, watches events, sends commands and
waits for their replies (MQTT 5 response topic + correlation data), and pushes signed models in chunks."""
from __future__ import annotations

import base64
import json
import queue
import ssl
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.errors import EdgekitError
from edge.fleet.link import no_delay
from fleetctl.signing import sign_command


class Operator:
    def __init__(self, host: str = "127.0.0.1", port: int = 1883, root: str = "edgekit", username: str | None = None,
                 password: str | None = None, ca_file: str | None = None, cert_file: str | None = None,
                 key_file: str | None = None, sign_key=None):
        self.root, self.sign_key = root.rstrip("/"), sign_key
        self.id = f"edgekit-op-{uuid.uuid4().hex[:10]}"
        self.reply_topic = f"{self.root}/_ops/{self.id}/reply"
        self.pending: dict[bytes, queue.SimpleQueue] = {}
        self.listeners: list[Callable] = []
        self.ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.id, protocol=mqtt.MQTTv5)
        if username:
            self.c.username_pw_set(username, password)
        if ca_file:
            self.c.tls_set(ca_certs=ca_file, certfile=cert_file, keyfile=key_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.c.on_connect, self.c.on_message, self.c.on_socket_open = self._on_connect, self._on_message, no_delay
        try:
            self.c.connect(host, port)
        except ssl.SSLError as e:
            raise EdgekitError(f"fleet: TLS handshake with {host}:{port} failed ({e})", "check --ca/--cert/--key") from None
        except OSError as e:
            raise EdgekitError(f"fleet: cannot reach the broker {host}:{port} ({e.strerror or e})", "check --host/--port") from None
        self.c.loop_start()
        if not self.ready.wait(10):
            raise EdgekitError(f"fleet: the broker {host}:{port} did not accept the connection", "check --username/--password")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            return
        client.subscribe(self.reply_topic, qos=1)
        self.ready.set()

    def _on_message(self, client, userdata, msg):
        if msg.topic == self.reply_topic:
            corr = getattr(msg.properties, "CorrelationData", None)
            q = self.pending.get(corr)
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

    def command(self, device: str, name: str, body: dict | None = None, timeout: float = 30.0) -> dict:
        body = dict(body or {})
        body.setdefault("id", uuid.uuid4().hex[:12])
        if self.sign_key is not None:
            body = sign_command(device, name, body, ed25519=self.sign_key)
        corr = uuid.uuid4().bytes
        q: queue.SimpleQueue = queue.SimpleQueue()
        self.pending[corr] = q
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic, props.CorrelationData = self.reply_topic, corr
        try:
            self.c.publish(f"{self.root}/{device}/cmd/{name}", json.dumps(body), qos=1, properties=props)
            try:
                return json.loads(q.get(timeout=timeout))
            except queue.Empty:
                raise EdgekitError(f"fleet: no reply from {device} to {name} within {timeout:g} s",
                                   "is it online? (`edgekit fleet ls`)") from None
        finally:
            self.pending.pop(corr, None)

    def push_model(self, device: str, model: str, tflite: bytes, card: dict, private_key,
                   progress: Callable[[int, int], None] | None = None, timeout: float = 60.0, url: str | None = None) -> dict:
        """Send a signed model in chunks, or only its signed description when the device is to fetch the file from
        `url`; returns the device's final reply (ok or why not)."""
        from fleetctl.signing import sign_model

        card = {**card, "name": model, "tflite": f"{model}.tflite"}
        begin = {"step": "begin", **sign_model(private_key, model, tflite, card)}
        if url is not None:  # the device downloads, checks and installs in one step
            return self.command(device, "model_update", {**begin, "url": url}, max(timeout, 300))
        reply = self.command(device, "model_update", begin, timeout)
        if not reply.get("ok"):
            return reply
        tid, size = reply["result"]["transfer"], reply["result"]["chunk_bytes"]
        for i, at in enumerate(range(0, len(tflite), size)):
            chunk = {"step": "chunk", "transfer": tid, "index": i, "data": base64.b64encode(tflite[at:at + size]).decode()}
            reply = self.command(device, "model_update", chunk, timeout)
            if not reply.get("ok"):
                return reply
            if progress:
                progress(min(at + size, len(tflite)), len(tflite))
        return self.command(device, "model_update", {"step": "commit", "transfer": tid}, max(timeout, 120))

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def read_model(card_path: Path) -> tuple[bytes, dict]:
    """A built artifact: NAME.card.json and the .tflite it names, checked against the card's sha256."""
    from edge.card import load_card

    card = load_card(card_path)
    return card.path.read_bytes(), json.loads(Path(card_path).read_text())
