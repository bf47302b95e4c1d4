"""The device link against a real mosquitto: retained status and will, store-and-forward across a broker outage and
an agent killed with SIGKILL, commands answered whatever they carry."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.fleet.link import DeviceLink, handle_command
from edge.fleet.security import SigningConfig
from tests.fixtures.mqtt import Consumer, link_cfg
from tests.mqtt_broker import MOSQUITTO

KEY = Ed25519PrivateKey.generate()
OPEN_READS = SigningConfig(unsigned_read_only=True)

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto (Debian package mosquitto)")
ROOT = Path(__file__).resolve().parents[1]


def test_status_online_retained_and_events_carry_id_and_seq(broker, tmp_path):
    link = DeviceLink(link_cfg(broker.port, tmp_path), "door1", {"models": {"faceres": "abc"}}).start()
    assert link.connected.wait(5)
    for i in range(5):
        link.sink.emit({"type": "face_recognized", "identity": f"p{i}"})
    # the broker has stored the status once any subscriber got it (connected.set() can come before the broker has
    # it, and a consumer subscribing in that gap gets it live, not retained): only then does a late consumer arrive
    probe = Consumer(broker.port, "edgekit/door1/status")
    assert probe.wait(lambda: probe.on("door1/status"))
    probe.close()
    late = Consumer(broker.port)  # a consumer arriving later still sees the retained status
    assert late.wait(lambda: late.on("door1/status"))
    status, retained = late.on("door1/status")[0]
    assert retained and status["state"] == "online" and status["models"] == {"faceres": "abc"}
    assert late.wait(lambda: late.on("door1/telemetry"))
    assert "outbox_depth" in late.on("door1/telemetry")[0][0]
    # Nagle off on the device's and the operator's sockets: replies go out at once, not after a delayed ACK
    from fleetctl.operator import Operator

    op = Operator(port=broker.port)
    for client in (link.client, op.c):
        assert client.socket().getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    op.close()
    link.stop()
    late.close()


def test_commands_get_a_reply_for_every_kind_of_payload(broker, tmp_path):
    # payload handling, not signing: a read-only command the site answers unsigned (tests/hostile has the signing)
    link = DeviceLink(link_cfg(broker.port, tmp_path, max_payload_bytes=1024, signing=OPEN_READS), "door4")
    link.on_command("echo", lambda body: {"you_said": body.get("text")}, read_only=True)
    link.start()
    assert link.connected.wait(5)
    consumer = Consumer(broker.port, "edgekit/door4/cmd/+/reply")
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="operator")
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    time.sleep(0.3)
    for topic, payload in [
        ("echo", b'{"id": 1, "text": "hi"}'),
        ("echo", b"{not json"),
        ("echo", b"x" * 5000),
        ("echo", b"[1, 2]"),
        ("reboot_everything", b'{"id": 2}'),
    ]:
        pub.publish(f"edgekit/door4/cmd/{topic}", payload, qos=1).wait_for_publish(2)
    assert consumer.wait(lambda: len(consumer.messages) >= 5)
    replies = [b for _, b, _ in consumer.messages]
    assert replies[0] == {"id": 1, "ok": True, "result": {"you_said": "hi"}}
    assert [r["ok"] for r in replies[1:]] == [False] * 4
    assert "not JSON" in replies[1]["error"] and "exceeds" in replies[2]["error"]
    assert "JSON object" in replies[3]["error"] and "unknown command" in replies[4]["error"]
    pub.loop_stop()
    link.stop()
    consumer.close()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)
PAYLOADS = st.one_of(
    st.binary(max_size=2048),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["id", "sig", "ts", "nonce", "name", "text", "step"]), JSON, max_size=5).map(
        lambda d: json.dumps(d).encode()
    ),
)


def strict_handler(body: dict) -> dict:
    return {"n": len(body["text"])}  # KeyError/TypeError on bad arguments: answered as such


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.one_of(st.sampled_from(["echo", "commands", "model_update"]), st.text(max_size=40)), payload=PAYLOADS)
def test_random_payloads_always_get_a_reply_never_an_exception(name, payload):

    from edge.fleet.commands import Dispatcher
    from edge.fleet.security import CommandVerifier, SigningConfig
    from fleetctl.signing import public_key_b64

    d = Dispatcher(1024, CommandVerifier(SigningConfig(ed25519_public_keys=[public_key_b64(KEY)]), "door"))
    d.register("echo", strict_handler)
    reply = d.handle(name, payload)
    assert isinstance(reply, dict) and isinstance(reply["ok"], bool)
    assert not reply["ok"] and reply["error"]  # nothing unsigned or random passes the signature check
    json.dumps(reply)
    # and the same payloads without signing: parse and argument errors are replies too
    reply = handle_command({"echo": strict_handler}, name, payload, 1024)
    assert reply["ok"] or reply["error"]
    json.dumps(reply)


def random_payloads(n: int, seed: int = 0) -> list[bytes]:
    import random

    rng = random.Random(seed)
    words = ["id", "text", "sig", "ts", "nonce", "step", "{", "}", "[", '"', ":", ",", "null", "1e999", "\\u0000", "é"]
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            out.append(rng.randbytes(rng.randint(0, 1500)))  # some over the 1024-byte limit
        elif kind == 1:
            out.append("".join(rng.choice(words) for _ in range(rng.randint(0, 30))).encode())
        elif kind == 2:
            out.append(
                json.dumps(
                    {
                        rng.choice(words): rng.choice([None, 1, "x" * rng.randint(0, 50), [1, {}], True])
                        for _ in range(rng.randint(0, 5))
                    }
                ).encode()
            )
        else:
            out.append(json.dumps(rng.choice([[1, 2], "text", 3.5, None, {"text": rng.randint(0, 9)}])).encode())
    return out


def test_random_payloads_through_the_broker_each_get_one_reply(broker, tmp_path):
    """A few hundred of the random payloads through the real broker: the link answers each and stays up."""
    link = DeviceLink(link_cfg(broker.port, tmp_path, max_payload_bytes=1024, signing=OPEN_READS), "door14")
    link.on_command("echo", strict_handler, read_only=True)
    link.start()
    assert link.connected.wait(5)
    replies = Consumer(broker.port, "edgekit/door14/cmd/echo/reply")
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fuzzer")
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    payloads = random_payloads(300) + [b'{"id": 7, "text": "still alive"}']
    for p in payloads:
        pub.publish("edgekit/door14/cmd/echo", p, qos=1).wait_for_publish(5)
    assert replies.wait(lambda: len(replies.messages) >= len(payloads), 30), len(replies.messages)
    # errors are answered at once, commands after they ran: the last payload's reply need not come last
    assert [b for _, b, _ in replies.messages if isinstance(b, dict) and b.get("id") == 7] == [
        {"id": 7, "ok": True, "result": {"n": 11}}
    ]
    assert all(isinstance(b, dict) and (b["ok"] or b["error"]) for _, b, _ in replies.messages)
    pub.loop_stop()
    replies.close()
    link.stop()


def test_state_set_before_the_connection_is_up_is_published_once(broker, tmp_path):
    """The retained state set while the link is still connecting (as `start(device)` does) reaches a subscriber once:
    it was sent twice (queued by paho while connecting, and again by on_connect), which made the demo's count flaky."""
    consumer = Consumer(broker.port, "edgekit/door9/state")
    for attempt in range(5):  # the race needs set_state before CONNACK: right after start() it nearly always is
        link = DeviceLink(link_cfg(broker.port, tmp_path / str(attempt)), "door9").start()
        link.set_state({"attempt": attempt})
        assert link.connected.wait(5)
        time.sleep(0.5)
        link.stop()
    time.sleep(0.3)
    by_attempt = [b["attempt"] for b, _ in consumer.on("door9/state") if isinstance(b, dict) and "attempt" in b]
    assert by_attempt == [0, 1, 2, 3, 4], by_attempt
    consumer.close()
