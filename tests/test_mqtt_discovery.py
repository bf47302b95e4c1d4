"""Home Assistant discovery on a real mosquitto, and the embedded (amqtt) broker a fresh machine runs."""

from __future__ import annotations

import socket
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.errors import EdgekitError
from edge.fleet.config import DiscoveryConfig, SnapshotConfig
from edge.fleet.link import DeviceLink
from edge.ports import free_port
from tests.fixtures.mqtt import Consumer, embedded_login, link_cfg
from tests.mqtt_broker import MOSQUITTO, Broker


@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto")
def test_discovery_entities_values_and_resend_when_home_assistant_comes_online(tmp_path):
    broker = Broker(tmp_path / "b").start()
    try:
        link = DeviceLink(
            link_cfg(
                broker.port,
                tmp_path,
                discovery=DiscoveryConfig(enabled=True),
                snapshots=SnapshotConfig(camera="porch", on_events=["face_unknown"]),
            ),
            "door11",
            {"app": "doorbell"},
        )
        link.start()
        assert link.connected.wait(5)
        # Home Assistant listening before the state changes: the identities' sensors reach it live (not retained:
        # CI failed when the subscription raced the publishes and the test asked for the retain flag)...
        ha = Consumer(broker.port, "homeassistant/#")
        link.set_state({"app": "doorbell", "gallery": {"identities": 2, "names": ["Ann", "Bob Smith"]}})
        seen = "homeassistant/sensor/door11/seen_bob_smith/config"
        assert ha.wait(lambda: any(t == seen for t, _, _ in ha.messages))
        # ...and one that comes later gets every entity from the broker's retained copies
        entities = {t for t, _, _ in ha.messages}
        late = Consumer(broker.port, "homeassistant/#")
        assert late.wait(lambda: {t for t, _, retained in late.messages if retained} >= entities)
        configs = {t: b for t, b, _ in late.messages}
        late.close()
        person = configs["homeassistant/binary_sensor/door11/person/config"]
        assert person["availability_topic"] == "edgekit/door11/status" and person["payload_not_available"] == "offline"
        assert person["state_topic"] == "edgekit/door11/ha/person"
        assert configs["homeassistant/sensor/door11/seen_bob_smith/config"]["device_class"] == "timestamp"
        camera = configs["homeassistant/camera/door11/snapshot/config"]
        assert camera["topic"] == "edgekit/door11/snapshot/porch" and "state_topic" not in camera

        values = Consumer(broker.port, "edgekit/door11/ha/#")
        link.sink.emit({"type": "face_recognized", "identity": "Bob Smith", "track_id": 1, "time": 1700000000.0})
        link.sink.emit({"type": "face_left", "track_id": 1, "identity": "Bob Smith"})
        assert values.wait(lambda: len(values.messages) >= 3)
        got = [(t.rsplit("/", 1)[-1], b) for t, b, _ in values.messages]
        assert ("bob_smith", "2023-11-14T22:13:20+00:00") in got
        assert [b for t, b in got if t == "person"] == ["ON", "OFF"]

        n = len(ha.messages)
        op = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ha")
        op.connect("127.0.0.1", broker.port)
        op.loop_start()
        op.publish("homeassistant/status", "online", qos=1).wait_for_publish(2)  # Home Assistant restarted
        assert ha.wait(lambda: len(ha.messages) >= n + 4)
        op.loop_stop()
        ha.close()
        values.close()
        link.stop()
    finally:
        broker.stop()


def test_embedded_broker_listens_on_loopback_and_carries_events(tmp_path, monkeypatch):
    pytest.importorskip("amqtt")
    port = free_port()
    login = embedded_login(monkeypatch, tmp_path)
    link = DeviceLink(link_cfg(port, tmp_path, host=None), "door12").start()  # no broker configured
    try:
        assert link.connected.wait(10), link.last_error
        consumer = Consumer(port, "edgekit/door12/events/#", login=login)
        for i in range(20):
            link.sink.emit({"type": "face_unknown", "n": i})
        assert consumer.wait(lambda: len(consumer.event_seqs()) >= 20)
        assert sorted(consumer.event_seqs()) == list(range(1, 21))
        consumer.close()
        with socket.socket() as s:  # bound to loopback only
            ip = next(
                a[4][0]
                for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
                if not a[4][0].startswith("127.")
            )
            assert s.connect_ex((ip, port)) != 0
    except StopIteration:
        pass
    finally:
        link.stop()
    with socket.socket() as s:  # its port taken: one line saying so and how to fix it
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(EdgekitError, match="cannot listen on 127.0.0.1.*set mqtt.host"):
            DeviceLink(link_cfg(s.getsockname()[1], tmp_path / "x", host=None), "door13").start()
