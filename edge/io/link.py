"""The device's MQTT link (paho-mqtt 2): retained status with a will, events through the disk outbox at QoS 1,
telemetry, retained state, and commands with replies.

Topics under the prefix (default `edgekit/<device_id>/`): `status` (retained; the will sets it offline),
`events/<type>`, `telemetry`, `state` (retained), `cmd/<name>` -> `cmd/<name>/reply`."""
from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from typing import Callable

import paho.mqtt.client as mqtt

from edge import __version__
from edge.errors import EdgekitError
from edge.io.config import MqttConfig
from edge.io.outbox import Outbox


class DeviceLink:
    def __init__(self, cfg: MqttConfig, device_id: str, device_info: dict | None = None):
        self.cfg, self.device_id = cfg, device_id
        self.prefix = cfg.prefix.format(device_id=device_id)
        self.info = {"software": __version__, **(device_info or {})}
        self.outbox = Outbox(cfg.outbox)
        self.handlers: dict[str, Callable[[dict], dict]] = {}
        self.telemetry_provider: Callable[[], dict] | None = None
        self.connected = threading.Event()
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._inflight: dict[int, int] = {}  # mid -> seq
        self._acked: list[int] = []
        self._sent_upto = 0
        self._running = False
        self.client = self._client()
        self.sink = _OutboxSink(self)

    # ---- connection ----
    def _client(self) -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edgekit-{self.device_id}", protocol=mqtt.MQTTv311)
        c.will_set(self.prefix + "status", json.dumps({"state": "offline", "device_id": self.device_id}), qos=1, retain=True)
        if self.cfg.username:
            c.username_pw_set(self.cfg.username, self.cfg.password)
        if self.cfg.tls:
            t = self.cfg.tls
            try:
                c.tls_set(ca_certs=t.ca_file, certfile=t.cert_file, keyfile=t.key_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
            except (OSError, ssl.SSLError) as e:
                raise EdgekitError(f"mqtt.tls: cannot load certificates ({e})", "check mqtt.tls.ca_file/cert_file/key_file") from None
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.max_inflight_messages_set(self.cfg.max_inflight)
        c.max_queued_messages_set(self.cfg.max_inflight)
        c.on_connect, c.on_disconnect = self._on_connect, self._on_disconnect
        c.on_publish, c.on_message = self._on_publish, self._on_message
        return c

    def start(self) -> "DeviceLink":
        self._running = True
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()
        self._threads = [threading.Thread(target=self._publisher, name="edgekit-mqtt-pub", daemon=True),
                         threading.Thread(target=self._telemetry, name="edgekit-mqtt-tel", daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_code}"
            return
        client.publish(self.prefix + "status", json.dumps({"state": "online", "device_id": self.device_id, **self.info}), qos=1, retain=True)
        client.subscribe(self.prefix + "cmd/+", qos=1)
        with self._wake:
            self._inflight.clear()
            self._sent_upto = 0  # resend whatever the broker has not acknowledged
            self.connected.set()
            self._wake.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        if reason_code.is_failure:
            self.last_error = f"disconnected: {reason_code}"

    # ---- events: outbox -> broker, in order, deleted on PUBACK ----
    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self._wake:
            seq = self._inflight.pop(mid, None)
            if seq is not None:
                self._acked.append(seq)
            self._wake.notify_all()

    def _publisher(self) -> None:
        while self._running:
            with self._wake:
                acked, self._acked = self._acked, []
            self.outbox.ack(acked)
            if not self.connected.is_set():
                self.connected.wait(0.2)
                continue
            with self._wake:
                room = self.cfg.max_inflight - len(self._inflight)
                after = self._sent_upto
            batch = self.outbox.pending(after, room) if room > 0 else []
            if not batch:
                with self._wake:
                    self._wake.wait(0.05)
                continue
            for m in batch:
                with self._wake:  # record the mid before its PUBACK can arrive
                    info = self.client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain)
                    if info.rc != mqtt.MQTT_ERR_SUCCESS:
                        break
                    self._inflight[info.mid] = m.seq
                    self._sent_upto = m.seq

    def publish_event(self, event: dict) -> int:
        topic = self.prefix + "events/" + str(event.get("type", "event"))

        def build(seq: int) -> bytes:
            return json.dumps({**event, "id": uuid.uuid4().hex, "seq": seq, "device_id": self.device_id}, separators=(",", ":")).encode()

        seq = self.outbox.put(topic, build, qos=1)
        with self._wake:
            self._wake.notify_all()
        return seq

    # ---- telemetry and state ----
    def set_telemetry(self, provider: Callable[[], dict]) -> None:
        self.telemetry_provider = provider

    def telemetry(self) -> dict:
        data = {"time": time.time(), **self.outbox.stats()}
        if self.telemetry_provider:
            data.update(self.telemetry_provider())
        return data

    def _telemetry(self) -> None:
        while self._running:
            time.sleep(self.cfg.telemetry_interval_s)
            if self.connected.is_set():
                self.client.publish(self.prefix + "telemetry", json.dumps(self.telemetry()), qos=0)

    def set_state(self, state: dict) -> None:
        self.client.publish(self.prefix + "state", json.dumps(state), qos=1, retain=True)

    # ---- commands ----
    def on_command(self, name: str, handler: Callable[[dict], dict]) -> None:
        self.handlers[name] = handler

    def _on_message(self, client, userdata, msg):
        name = msg.topic[len(self.prefix + "cmd/"):]
        if "/" in name:  # our own replies
            return
        reply = handle_command(self.handlers, name, msg.payload, self.cfg.max_payload_bytes)
        client.publish(self.prefix + f"cmd/{name}/reply", json.dumps(reply), qos=1)

    # ---- shutdown ----
    def stop(self, flush_timeout_s: float = 5.0) -> None:
        deadline = time.time() + flush_timeout_s
        while self.connected.is_set() and self.outbox.stats()["outbox_depth"] and time.time() < deadline:
            time.sleep(0.05)
        self._running = False
        if self.connected.is_set():
            info = self.client.publish(self.prefix + "status", json.dumps({"state": "offline", "device_id": self.device_id}), qos=1, retain=True)
            info.wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()
        for t in getattr(self, "_threads", []):
            t.join(timeout=1)
        self.outbox.close()


class _OutboxSink:
    """The loop's EventSink: every event lands in the outbox first."""

    def __init__(self, link: DeviceLink):
        self.link = link

    def emit(self, event: dict) -> None:
        self.link.publish_event(event)

    def close(self) -> None:
        pass


def handle_command(handlers: dict, name: str, payload: bytes, max_bytes: int) -> dict:
    """Parse, check and dispatch one command; always returns a reply saying done or exactly why not."""
    if len(payload) > max_bytes:
        return {"ok": False, "error": f"payload of {len(payload)} bytes exceeds the {max_bytes}-byte limit"}
    try:
        body = json.loads(payload.decode("utf-8")) if payload else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return {"ok": False, "error": f"payload is not JSON ({e.__class__.__name__})"}
    if not isinstance(body, dict):
        return {"ok": False, "error": f"payload must be a JSON object, got {type(body).__name__}"}
    request_id = body.get("id") if isinstance(body.get("id"), (str, int)) else None
    handler = handlers.get(name)
    if handler is None:
        return {"id": request_id, "ok": False, "error": f"unknown command '{name[:64]}'", "commands": sorted(handlers)}
    try:
        result = handler(body)
    except EdgekitError as e:
        return {"id": request_id, "ok": False, "error": str(e)}
    except (KeyError, TypeError, ValueError) as e:
        return {"id": request_id, "ok": False, "error": f"bad arguments: {e}"}
    return {"id": request_id, "ok": True, "result": result}
