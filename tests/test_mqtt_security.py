"""Security against a real mosquitto: TLS and mutual TLS connect, a wrong CA is refused with one clear error,
wrong credentials and ACL denials are reported; signed commands: unsigned, forged, stale and replayed commands are
answered with an error, a correctly signed one runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.errors import EdgekitError
from edge.fleet.config import TlsConfig
from edge.fleet.link import DeviceLink
from edge.fleet.security import CommandVerifier, SigningConfig
from fleetctl.signing import public_key_b64, sign_command
from tests.fixtures.mqtt import Consumer, link_cfg
from tests.mqtt_broker import MOSQUITTO, Broker, Pki

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto (Debian package mosquitto)")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


def _run(broker: Broker, link: DeviceLink):
    try:
        return link.start()
    except BaseException:
        broker.stop()
        raise


def test_tls_and_mutual_tls_connect_and_deliver(tmp_path, pki):
    broker = Broker(tmp_path / "b", tls=pki, require_client_cert=True).start()
    try:
        tls = TlsConfig(ca_file=str(pki.ca), cert_file=str(pki.client_cert), key_file=str(pki.client_key))
        link = DeviceLink(link_cfg(broker.port, tmp_path, tls=tls), "door-tls").start()
        assert link.connected.wait(5), link.last_error
        link.sink.emit({"type": "face_unknown"})
        deadline = time.time() + 5
        while link.outbox.depth and time.time() < deadline:
            time.sleep(0.05)
        assert link.outbox.depth == 0  # PUBACKed over mutual TLS
        link.stop()
    finally:
        broker.stop()


def test_mutual_tls_broker_refuses_a_device_without_a_client_certificate(tmp_path, pki):
    broker = Broker(tmp_path / "b", tls=pki, require_client_cert=True).start()
    try:
        link = DeviceLink(link_cfg(broker.port, tmp_path, tls=TlsConfig(ca_file=str(pki.ca))), "door-nocert")
        try:
            link.start()
            assert not link.connected.wait(2)
        except EdgekitError as e:  # refused during the handshake: one line naming TLS
            assert "TLS" in str(e)
        link.stop(flush_timeout_s=0)
    finally:
        broker.stop()


def test_wrong_ca_is_refused_with_one_clear_error(tmp_path, pki):
    other = Pki(tmp_path / "other", name="some other CA")
    broker = Broker(tmp_path / "b", tls=pki).start()
    try:
        link = DeviceLink(link_cfg(broker.port, tmp_path, tls=TlsConfig(ca_file=str(other.ca))), "door-ca")
        with pytest.raises(EdgekitError) as e:
            link.start()
        assert str(e.value).startswith(f"mqtt.tls.ca_file {other.ca}: does not verify the certificate")
    finally:
        broker.stop()


ACL = """user door5
topic readwrite edgekit/door5/status
topic readwrite edgekit/door5/telemetry
topic read edgekit/door5/cmd/#
"""


def test_wrong_password_and_acl_denials_are_reported(tmp_path):
    broker = Broker(
        tmp_path / "b", users={"door5": "right-pass", "ops": "ops-pass"}, acl=ACL + "user ops\ntopic read edgekit/#\n"
    ).start()
    try:
        bad = DeviceLink(link_cfg(broker.port, tmp_path / "bad", username="door5", password="wrong"), "door5").start()
        deadline = time.time() + 5
        while not bad.last_error and time.time() < deadline:
            time.sleep(0.05)
        assert not bad.connected.is_set() and "refused the connection" in bad.last_error
        bad.stop(flush_timeout_s=0)

        link = DeviceLink(link_cfg(broker.port, tmp_path, username="door5", password="right-pass"), "door5").start()
        assert link.connected.wait(5), link.last_error
        link.sink.emit({"type": "face_unknown"})  # events/# is not in the ACL
        deadline = time.time() + 5
        while not link.refused and time.time() < deadline:
            time.sleep(0.05)
        assert link.refused == 1 and "Not authorized" in link.last_error and "ACL" in link.last_error
        assert link.outbox.depth == 1  # refused, not lost: it waits for a fixed ACL
        assert link.telemetry()["messages_refused"] == 1
        link.stop(flush_timeout_s=0.2)
    finally:
        broker.stop()


def test_verifier_refuses_unsigned_forged_stale_and_replayed_commands(tmp_path):
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    hmac_file = tmp_path / "secret"
    hmac_file.write_bytes(b"a-shared-secret-of-32-bytes-long")
    hmac_file.chmod(0o600)  # a secret others can read is refused (tests/hostile/test_secure_files.py)
    v = CommandVerifier(
        SigningConfig(ed25519_public_keys=[public_key_b64(key)], hmac_key_file=str(hmac_file), window_s=60), "door6"
    )
    now = time.time()
    good = sign_command("door6", "restart", {"id": 1}, ed25519=key, now=now)
    v.check("restart", good, now=now)
    cases = {
        "not signed": {"id": 1},
        "replayed": good,
        "bad signature": sign_command("door6", "restart", {"id": 1}, ed25519=other, now=now),
        "bad signature ": sign_command("door7", "restart", {"id": 1}, ed25519=key, now=now),  # another device's
        "from the device's clock": sign_command("door6", "restart", {"id": 1}, ed25519=key, now=now - 3600),
        "HMAC does not match": sign_command("door6", "restart", {"id": 1}, hmac_key=b"x" * 32, now=now),
    }
    renamed = sign_command("door6", "restart", {"id": 1}, ed25519=key, now=now)
    with pytest.raises(EdgekitError, match="bad signature"):
        v.check("remove_identity", renamed, now=now)  # a signature is for one command name
    tampered = {**sign_command("door6", "set_config", {"config": {"a": 1}}, ed25519=key, now=now), "config": {"a": 2}}
    with pytest.raises(EdgekitError, match="bad signature"):
        v.check("set_config", tampered, now=now)
    for why, body in cases.items():
        with pytest.raises(EdgekitError, match=why.strip()):
            v.check("restart", body, now=now)
    v.check(
        "restart", sign_command("door6", "restart", {}, hmac_key=b"a-shared-secret-of-32-bytes-long", now=now), now=now
    )


def test_replay_is_refused_after_a_restart(tmp_path):
    from edge.fleet.nonces import NonceStore

    key = Ed25519PrivateKey.generate()
    cfg = SigningConfig(ed25519_public_keys=[public_key_b64(key)])
    signed = sign_command("door6", "restart", {}, ed25519=key)
    box = NonceStore(tmp_path / "o.nonces.db")
    CommandVerifier(cfg, "door6", box).check("restart", signed)
    box.close()
    box = NonceStore(tmp_path / "o.nonces.db")  # the device restarted within the window
    with pytest.raises(EdgekitError, match="replayed"):
        CommandVerifier(cfg, "door6", box).check("restart", signed)
    box.close()


def test_signed_commands_through_the_broker(tmp_path, broker_plain=None):
    broker = Broker(tmp_path / "b").start()
    key = Ed25519PrivateKey.generate()
    try:
        cfg = link_cfg(broker.port, tmp_path, signing=SigningConfig(ed25519_public_keys=[public_key_b64(key)]))
        link = DeviceLink(cfg, "door8")
        ran = []
        link.on_command("restart", lambda body: ran.append(1) or {"restarting": True})
        link.start()
        assert link.connected.wait(5)
        replies = Consumer(broker.port, "edgekit/door8/cmd/+/reply")
        op = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="op8")
        op.connect("127.0.0.1", broker.port)
        op.loop_start()
        signed = sign_command("door8", "restart", {"id": "a"}, ed25519=key)
        for body in [{"id": "u"}, signed, signed]:  # unsigned, good, replayed
            op.publish("edgekit/door8/cmd/restart", json.dumps(body), qos=1).wait_for_publish(2)
        assert replies.wait(lambda: len(replies.messages) >= 3)
        got = [b for _, b, _ in replies.messages]
        assert [r["ok"] for r in got] == [False, True, False] and ran == [1]
        assert "not signed" in got[0]["error"] and "replayed" in got[2]["error"]
        op.loop_stop()
        replies.close()
        link.stop()
    finally:
        broker.stop()
