"""The device's MQTT link (paho-mqtt 2, MQTT 5): retained status with a will, events through the disk outbox at QoS 1,
telemetry, retained state, commands with replies, Home Assistant discovery, optional in-process broker.

Topics under the prefix (default `edgekit/<device_id>/`): `status` (retained; the will sets it offline),
`events/<type>`, `telemetry`, `state` (retained), `snapshot/<camera>`, `cmd/<name>` -> `cmd/<name>/reply` (or the
MQTT 5 response topic, with the correlation data echoed)."""

from __future__ import annotations

import json
import logging
import queue
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge import __version__
from edge.errors import EdgekitError
from edge.fleet.commands import Dispatcher, Handler, handle_command  # noqa: F401  (handle_command: re-exported)
from edge.fleet.config import MqttConfig
from edge.fleet.nonces import NonceStore, nonces_path_for
from edge.fleet.outbox import Outbox
from edge.fleet.outcomes import Outcomes, outcomes_path_for
from edge.fleet.security import CommandVerifier

log = logging.getLogger("edgekit.mqtt")


def no_delay(client, userdata, sock) -> None:
    """paho's on_socket_open: turn Nagle's algorithm off. A command's reply (and each model chunk's) is a small packet
    sent right behind a PUBACK, so with Nagle it waits for the peer's delayed ACK, about 40 ms a hop (88 ms per command
    round trip measured with a default mosquitto; 1 ms with this here and `set_tcp_nodelay true` on the broker)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket (websockets wrapper, unix socket)
        pass


@dataclass
class Device:
    """What the link serves from the running loop; each is called from the link's threads."""

    telemetry: Callable[[], dict]
    state: Callable[[], dict]  # the retained `state` message
    model_versions: Callable[[], dict]  # card name -> target, sha256 (in `status`)
    reload_model: Callable[[str, Path], bool]  # a model update taken in; False if the loop does not run it
    live_frames: Callable[[], list]  # the latest camera frame(s), for a model update's smoke test
    commands: dict[str, Handler] = field(default_factory=dict)
    read_only: frozenset[str] = frozenset()  # commands that change nothing (the rest run only when signed)
    accelerator: object = None  # the smoke test runs where the loop runs


class DeviceLink:
    """`DeviceLink(cfg, device_info)` (device id from cfg.device_id) or `DeviceLink(cfg, device_id, device_info)`."""

    def __init__(self, cfg: MqttConfig, device_id: str | dict | None = None, device_info: dict | None = None):
        if isinstance(device_id, dict):
            device_id, device_info = None, device_id
        self.cfg = cfg
        self.device_id = cfg.device_id or device_id or socket.gethostname()
        self.prefix = cfg.prefix.format(device_id=self.device_id)
        self.info = {"software": __version__, **(device_info or {})}
        self.outbox = Outbox(cfg.outbox)
        self.nonces = NonceStore(nonces_path_for(cfg.outbox.path))
        self.outcomes = Outcomes(outcomes_path_for(cfg.outbox.path))
        self.commands = Dispatcher(cfg.max_payload_bytes, CommandVerifier(cfg.signing, self.device_id, self.nonces))
        self.telemetry_provider: Callable[[], dict] | None = None
        self.connected = threading.Event()
        self.last_error: str | None = None
        self.refused = 0  # events the broker refused (ACL); they stay in the outbox
        self.started_at = time.time()
        self._signals: queue.SimpleQueue = queue.SimpleQueue()  # PUBACKs (mid, reason) and wake-ups (None)
        self._inflight: dict[int, int] = {}  # mid -> seq of events handed to paho, until their PUBACK (publisher only)
        self._sent_upto = 0
        self._running = False
        self._state: dict = {}
        self._own_state: dict = {}
        if saved := self.outcomes.get("model_updates"):  # what the last updates did, from before a restart
            self._own_state["model_updates"] = saved
        # The retained state goes out only while connected, and on_connect sends the current one: published while
        # connecting, paho queued it and on_connect sent it again (a subscriber saw one state twice).
        self._state_lock = threading.Lock()
        self._state_online = False
        self._jobs: queue.Queue = queue.Queue(maxsize=32)
        self.broker = None
        self.discovery = None
        if cfg.discovery.enabled:
            from edge.fleet.discovery import Discovery

            camera = self.snapshot_topic(cfg.snapshots.camera) if cfg.snapshots.on_events else None
            self.discovery = Discovery(
                cfg.discovery.prefix,
                self.device_id,
                self.prefix,
                self.info,
                camera,
                off_delay_s=cfg.discovery.person_off_delay_s,
            )
        self.model_updates = None
        self.device: Device | None = None
        self.client = self._client()
        self.sink = _OutboxSink(self)

    # ---- connection ----
    def _client(self) -> mqtt.Client:
        # the embedded broker (amqtt) speaks 3.1.1 only
        self.v5 = self.cfg.protocol == "5" and not self.cfg.embedded
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"edgekit-{self.device_id}",
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
        )
        # the will says what went away (software, app), so a fleet view still knows it while it is offline
        will = {"state": "offline", "device_id": self.device_id, **self.info}
        c.will_set(self.prefix + "status", json.dumps(will), qos=1, retain=True)
        if self.cfg.username:
            c.username_pw_set(self.cfg.username, self.cfg.password)
        if self.cfg.tls:
            t = self.cfg.tls
            try:
                c.tls_set(
                    ca_certs=t.ca_file, certfile=t.cert_file, keyfile=t.key_file, tls_version=ssl.PROTOCOL_TLS_CLIENT
                )
            except (OSError, ssl.SSLError) as e:
                raise EdgekitError(
                    f"mqtt.tls: cannot load certificates ({e})", "check mqtt.tls.ca_file/cert_file/key_file"
                ) from None
        paho_log = logging.getLogger(
            "edgekit.mqtt.paho"
        )  # packets at DEBUG; the link reports errors itself (last_error)
        if paho_log.level == logging.NOTSET:
            paho_log.setLevel(logging.CRITICAL)
        c.enable_logger(paho_log)
        c.reconnect_delay_set(min_delay=1, max_delay=8)  # back within seconds of the broker's return
        c.max_inflight_messages_set(self.cfg.max_inflight)
        c.max_queued_messages_set(0)  # the outbox is the queue; the publisher bounds what it hands to paho
        c.on_socket_open = no_delay
        c.on_connect, c.on_disconnect = self._on_connect, self._on_disconnect
        c.on_publish, c.on_message, c.on_subscribe = self._on_publish, self._on_message, self._on_subscribe
        return c

    def start(self, device: Device | None = None) -> DeviceLink:
        """Serve `device` (the running loop: its telemetry, state, commands, model updates) and connect in the
        background (an absent broker is retried; events wait in the outbox). A broker whose TLS certificate the
        configured CA does not trust is a configuration error and raises at once."""
        if self.cfg.signing.allow_unsigned:
            log.warning(
                "WARNING: mqtt.signing.allow_unsigned is on: any client on the broker can enrol faces, "
                "change thresholds, remove identities, restart and update models. Labs only."
            )
        self._serve(device)
        if self.cfg.embedded:
            from edge.fleet.broker import EmbeddedBroker, broker_login
            from edge.paths import state_dir

            login, path, made = broker_login(state_dir())
            self.client.username_pw_set(login["username"], login["password"])
            log.warning(
                "mqtt: no broker configured (mqtt.host): running an in-process broker on 127.0.0.1:%d "
                "(login: username %s, password in %s); set mqtt.host to report to yours",
                self.cfg.port,
                login["username"],
                path,
            )
            if made:
                log.warning(
                    "mqtt: new in-process broker password (for `edgekit fleet ... --username %s --password`): %s",
                    login["username"],
                    login["password"],
                )
            self.broker = EmbeddedBroker(self.cfg.port, login).start()
        self._running = True
        try:
            self.client.connect(self.cfg.broker_host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        except ssl.SSLCertVerificationError as e:
            self._running = False
            raise EdgekitError(
                f"mqtt.tls.ca_file {self.cfg.tls.ca_file}: does not verify the certificate of "
                f"{self.cfg.broker_host}:{self.cfg.port} "
                f"({e.verify_message})",
                "set ca_file to the CA that signed the broker's certificate",
            ) from None
        except ssl.SSLError as e:
            self._running = False
            raise EdgekitError(
                f"mqtt: TLS handshake with {self.cfg.broker_host}:{self.cfg.port} failed ({e.reason or e})",
                "check mqtt.tls: the broker may want a client certificate (cert_file/key_file) it trusts",
            ) from None
        except OSError as e:
            self.last_error = (
                f"cannot reach broker {self.cfg.broker_host}:{self.cfg.port} ({e.strerror or e}); retrying"
            )
            log.warning("mqtt: %s", self.last_error)
            self.client.connect_async(self.cfg.broker_host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()
        self._threads = [
            threading.Thread(target=self._publisher, name="edgekit-mqtt-pub", daemon=True),
            threading.Thread(target=self._telemetry, name="edgekit-mqtt-tel", daemon=True),
            threading.Thread(target=self._commands, name="edgekit-mqtt-cmd", daemon=True),
        ]
        for t in self._threads:
            t.start()
        if device is not None:
            self.set_state(device.state())
        return self

    def _serve(self, device: Device | None) -> None:
        self.device = device
        if device is not None:
            self.info["models"] = device.model_versions()
            self.telemetry_provider = device.telemetry
            for name, handler in device.commands.items():
                if name not in self.handlers:  # the link's own commands stay
                    self.on_command(name, handler, read_only=name in device.read_only)
        gallery_key = self.cfg.gallery_update.public_key
        if gallery_key and "gallery_update" in self.handlers:  # the gallery key signs that command's steps too
            from edge.fleet.security import load_public_key

            key = load_public_key(gallery_key, "mqtt.gallery_update.public_key")
            self.commands.verifier.trust("gallery_update", key)
        if self.cfg.model_update.public_key:
            from edge.fleet.model_update import ModelUpdater

            self.model_updates = ModelUpdater(
                self.cfg.model_update,
                on_outcome=self._model_outcome,
                on_swapped=self._swapped if device is not None else None,
                live_frames=device.live_frames if device is not None else None,
                accelerator=device.accelerator if device is not None else None,
            )
            self.model_updates.register(self)
            self.commands.verifier.trust("model_update", self.model_updates.key)  # the model key signs its steps

    def _swapped(self, name: str, card_path) -> None:
        """A model update installed and smoke-tested: the loop takes it in (raising rolls the update back)."""
        if self.device.reload_model(name, card_path):
            self.models_changed()

    def models_changed(self) -> None:
        """The loop runs other model builds now (an update taken in, or rolled back): re-publish the versions."""
        if self.device is not None:
            self.set_info(models=self.device.model_versions())
            self.refresh_state()

    def refresh_state(self) -> None:
        """Re-publish the served device's retained state (after a command changed it)."""
        if self.device is not None:
            self.set_state(self.device.state())

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_code}"
            log.error("mqtt: %s", self.last_error)
            return
        self.last_error = None
        client.publish(self.prefix + "status", json.dumps(self.status("online")), qos=1, retain=True)
        client.subscribe(self.prefix + "cmd/+", qos=1)
        with self._state_lock:
            self._state_online = True
            if self._state or self._own_state:
                self._send_state()
        if self.discovery:
            client.subscribe(self.discovery.status_topic, qos=1)
            self.discovery.publish_all(client, self._state)
        self.connected.set()  # paho itself resends what it holds unacknowledged, with the same message ids
        self._signals.put(None)

    def set_info(self, **info) -> None:
        """Change what the retained `online` status says (model versions after an update) and re-publish it."""
        self.info.update(info)
        if self.connected.is_set():
            self.client.publish(self.prefix + "status", json.dumps(self.status("online")), qos=1, retain=True)

    def status(self, state: str) -> dict:
        status = {"state": state, "device_id": self.device_id, "since": self.started_at, **self.info}
        if self.cfg.signing.allow_unsigned:
            status["allow_unsigned"] = True  # said in the retained status too: whoever watches the fleet sees it
        return status

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        with self._state_lock:
            self._state_online = False
        if reason_code.is_failure and not (self.last_error or "").startswith("broker refused"):  # keep the why
            self.last_error = f"disconnected: {reason_code}"

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        for rc in reason_codes:
            if rc.is_failure:
                self.last_error = f"broker refused a subscription ({rc}): check the ACL for {self.prefix}cmd/+"
                log.error("mqtt: %s", self.last_error)

    # ---- events: outbox -> broker, in order, deleted on PUBACK ----
    # paho calls on_publish holding its own message lock, so the callback takes no lock of ours (taking one that the
    # publisher holds around client.publish() deadlocks): it only queues the mid, and the publisher thread, which
    # alone owns the mid -> seq map, matches it after recording what it published.
    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self._signals.put((mid, reason_code))

    def _settle(self, block: bool) -> None:
        """Match queued PUBACKs to sequence numbers and delete those events from the outbox."""
        acked = []
        try:
            item = self._signals.get(timeout=0.05) if block else self._signals.get_nowait()
            while True:
                if item is not None:
                    mid, reason = item
                    seq = self._inflight.pop(mid, None)
                    if seq is not None and reason.is_failure:  # e.g. Not authorized: kept for after the ACL is fixed
                        self.refused += 1
                        self.last_error = (
                            f"broker refused event {seq}: {reason} (check the ACL for {self.prefix}events/#)"
                        )
                    elif seq is not None:
                        acked.append(seq)
                item = self._signals.get_nowait()
        except queue.Empty:
            pass
        self.outbox.ack(acked)

    def _publisher(self) -> None:
        while self._running:
            if not self.connected.is_set():
                self._settle(block=False)
                self.connected.wait(0.2)
                continue
            room = self.cfg.max_inflight - len(self._inflight)
            batch = self.outbox.pending(self._sent_upto, room) if room > 0 else []
            if not batch:
                self._settle(block=True)
                continue
            for m in batch:
                if not self.connected.is_set():
                    break
                info = self.client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain)
                if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):  # NO_CONN: paho sends it on reconnect
                    break
                self._inflight[info.mid] = m.seq
                self._sent_upto = m.seq
            self._settle(block=False)

    def publish_event(self, event: dict) -> int:
        topic = self.prefix + "events/" + _topic_word(str(event.get("type", "event")))

        def build(seq: int) -> bytes:  # the bus stamps the id; events sent here directly get one
            body = {
                **event,
                "id": event.get("id") or uuid.uuid4().hex,
                "seq": seq,
                "epoch": self.outbox.epoch,
                "device_id": self.device_id,
            }
            return json.dumps(body, separators=(",", ":")).encode()

        seq = self.outbox.put(topic, build, qos=1)
        if self.discovery:
            self.discovery.on_event(self.client, event)
        self._signals.put(None)  # wake the publisher
        return seq

    def snapshot_topic(self, camera: str) -> str:
        return self.prefix + "snapshot/" + _topic_word(camera)

    def publish_snapshot(self, camera: str, jpeg: bytes) -> bool:
        """A JPEG on snapshot/<camera> (QoS 1, retained: a camera entity shows the latest one even after Home
        Assistant restarts; not through the outbox); False while disconnected."""
        if not self.connected.is_set():
            return False
        info = self.client.publish(self.snapshot_topic(camera), jpeg, qos=1, retain=True)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    # ---- telemetry and state ----
    def telemetry(self) -> dict:
        data = {
            "time": time.time(),
            "uptime_s": round(time.time() - self.started_at, 1),
            **self.outbox.stats(),
            "messages_refused": self.refused,
        }
        if self.telemetry_provider:
            try:
                data.update(self.telemetry_provider())
            except Exception as e:  # a telemetry bug must not stop the link
                data["telemetry_error"] = f"{e.__class__.__name__}: {e}"
        return data

    def _telemetry(self) -> None:
        while self._running:
            deadline = time.time() + self.cfg.telemetry_interval_s
            while self._running and time.time() < deadline:
                time.sleep(min(0.2, self.cfg.telemetry_interval_s))
            if self._running and self.model_updates is not None:
                self.model_updates.expire()  # a push whose operator vanished does not hold its file forever
            if self._running and self.connected.is_set():
                self.client.publish(self.prefix + "telemetry", json.dumps(self.telemetry()), qos=0)

    def set_state(self, state: dict) -> None:
        """The loop's reported state (retained); the link adds its own keys (model updates)."""
        self._state = dict(state)
        self._publish_state()
        if self.discovery and self.connected.is_set():
            self.discovery.publish_all(self.client, self._state)

    def _publish_state(self) -> None:
        with self._state_lock:
            if self._state_online:
                self._send_state()

    def _send_state(self) -> None:
        self.client.publish(self.prefix + "state", json.dumps({**self._state, **self._own_state}), qos=1, retain=True)

    def _model_outcome(self, outcome: dict) -> None:
        self._own_state.setdefault("model_updates", {})[outcome["model"]] = outcome
        self.outcomes.put("model_updates", self._own_state["model_updates"])
        self._publish_state()

    # ---- commands: parsed and run on their own thread, so a slow one never stalls acknowledgements ----
    def on_command(self, name: str, handler: Handler, read_only: bool = False) -> None:
        self.commands.register(name, handler, read_only)

    @property
    def handlers(self) -> dict[str, Handler]:
        return self.commands.handlers

    def _on_message(self, client, userdata, msg):
        if self.discovery and msg.topic == self.discovery.status_topic:
            if msg.payload == b"online":
                self.discovery.publish_all(client, self._state)
            return
        name = msg.topic[len(self.prefix + "cmd/") :]
        props = getattr(msg, "properties", None)
        reply_to, asked = self.prefix + f"cmd/{name}/reply", getattr(props, "ResponseTopic", None)
        correlation = getattr(props, "CorrelationData", None)
        if asked and asked != reply_to and not self._operator_topic(asked):
            # a reply published on e.g. <prefix>cmd/restart would be the device's own next command
            why = (
                f"response topic {asked[:128]!r} refused: replies go to {reply_to} or under "
                f"{self.cfg.operator_replies} (mqtt.operator_replies)"
            )
            self._reply(reply_to, correlation, {"ok": False, "error": why})
            return
        reply_to = asked or reply_to
        try:
            self._jobs.put_nowait((name, msg.payload, reply_to, correlation))
        except queue.Full:
            self._reply(
                reply_to, correlation, {"ok": False, "error": "device busy: too many commands queued, retry later"}
            )

    def _operator_topic(self, topic: str) -> bool:
        """A reply topic in the operators' tree: no wildcards, no command level, ends in /reply."""
        rest = topic[len(self.cfg.operator_replies) :]
        return (
            topic.startswith(self.cfg.operator_replies)
            and topic.endswith("/reply")
            and not set(topic) & set("+#\0")
            and "cmd" not in rest.split("/")
        )

    def _commands(self) -> None:
        while self._running:
            try:
                name, payload, reply_to, correlation = self._jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                reply = self.commands.handle(name, payload)
            except Exception as e:  # a handler bug is answered, logged, and the device keeps running
                log.exception("mqtt: command %r failed", name[:64])
                reply = {
                    "ok": False,
                    "error": f"internal error in {name[:64]!r}: {e.__class__.__name__}: {str(e)[:200]}",
                }
            self._reply(reply_to, correlation, reply)

    def _reply(self, topic: str, correlation: bytes | None, reply: dict) -> None:
        props = None
        if correlation is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = correlation
        try:
            self.client.publish(topic, json.dumps(reply), qos=1, properties=props)
        except ValueError as e:  # an unusable response topic
            log.warning("mqtt: cannot reply on %r: %s", topic[:128], e)

    # ---- shutdown ----
    def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Flush what the broker can take within the timeout (the rest stays in the outbox), say offline, disconnect."""
        deadline = time.time() + flush_timeout_s
        while self._running and self.connected.is_set() and self.outbox.depth > self.refused and time.time() < deadline:
            time.sleep(0.02)
        self._running = False
        if self.discovery:
            self.discovery.close()
        for t in getattr(self, "_threads", []):
            t.join(timeout=2)
        self._settle(block=False)  # the publisher has stopped: its map is ours now
        if self.connected.is_set():
            info = self.client.publish(self.prefix + "status", json.dumps(self.status("offline")), qos=1, retain=True)
            info.wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()
        self.outbox.close()
        self.nonces.close()
        if self.broker is not None:
            self.broker.stop()


def _topic_word(s: str) -> str:
    """One topic level: no wildcards or separators from event data."""
    return "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in s)[:64] or "_"


class _OutboxSink:
    """The loop's EventSink: every event lands in the outbox first."""

    def __init__(self, link: DeviceLink):
        self.link = link

    def emit(self, event: dict) -> None:
        self.link.publish_event(event)

    def close(self) -> None:
        pass
