"""The ingest worker's faster paho (fleetctl/fast_client.py): it must decode exactly what stock paho decodes, through a
real mosquitto, with packets split across and packed into its 64 KiB reads."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt._packet as paho_packet
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fleetctl.fast_client import FastClient, SharedTableProperties, share_property_tables
from tests.mqtt_broker import MOSQUITTO


def _publish_properties() -> Properties:
    p = Properties(PacketTypes.PUBLISH)
    p.PayloadFormatIndicator = 1
    p.MessageExpiryInterval = 3600
    p.ContentType = "application/json"
    p.ResponseTopic = "edgekit/door1/replies"
    p.CorrelationData = b"\x00\x01corr"
    p.UserProperty = ("device", "door1")
    p.UserProperty = ("seq", "42")
    return p


def test_shared_tables_decode_as_stock_paho_and_keep_no_state_between_packets():
    wire = _publish_properties().pack()
    stock, _ = Properties(PacketTypes.PUBLISH).unpack(wire)
    shared, n = SharedTableProperties(PacketTypes.PUBLISH).unpack(wire)
    assert n == len(wire)
    assert shared.json() == stock.json()
    assert shared.UserProperty == [("device", "door1"), ("seq", "42")]
    # the next packet's properties start empty: nothing leaked into the shared tables
    empty, _ = SharedTableProperties(PacketTypes.PUBLISH).unpack(Properties(PacketTypes.PUBLISH).pack())
    assert empty.json() == {} and not hasattr(empty, "UserProperty")
    assert "UserProperty" not in SharedTableProperties._tables


def test_the_installed_paho_takes_the_shared_tables():
    """On a paho whose decoder moved, the worker would silently run at the stock cost: this says so."""
    assert share_property_tables()
    assert paho_packet.Properties is SharedTableProperties


@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto (Debian package mosquitto)")
def test_every_message_arrives_intact_through_a_real_broker(broker):
    """Tiny, typical and 200 KB payloads (a packet split over several 64 KiB reads, many packed in one), QoS 0 and 1,
    with properties, acknowledged by hand as the ingest worker does."""
    sizes = [1, 300, 200_000, 5, 70_000, *([120] * 500), 65_536, 65_535]
    expected = [(f"t/{i}", bytes([i % 251]) * size) for i, size in enumerate(sizes)]
    got, done = [], threading.Event()

    def on_message(client, userdata, msg):
        got.append((msg.topic, msg.payload, dict(msg.properties.UserProperty), msg.qos))
        client.ack(msg.mid, msg.qos)
        if len(got) == len(expected):
            done.set()

    sub = FastClient(mqtt.CallbackAPIVersion.VERSION2, client_id="fast", protocol=mqtt.MQTTv5, manual_ack=True)
    subscribed = threading.Event()
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_connect = lambda c, *a: c.subscribe("t/#", qos=1)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    try:
        assert subscribed.wait(10)
        infos = []
        for i, (topic, payload) in enumerate(expected):
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = ("i", str(i))
            infos.append(pub.publish(topic, payload, qos=i % 2, properties=props))
        for info in infos:
            info.wait_for_publish(10)
        assert done.wait(30), f"{len(got)} of {len(expected)} arrived"
    finally:
        pub.loop_stop()
        sub.loop_stop()
    got.sort(key=lambda m: int(m[2]["i"]))  # the broker may pass a QoS 0 message ahead of a QoS 1 one
    assert [(t, p) for t, p, _, _ in got] == expected
    assert [u["i"] for _, _, u, _ in got] == [str(i) for i in range(len(expected))]
    assert [q for *_, q in got] == [i % 2 for i in range(len(expected))]
