"""Store and forward against a real mosquitto: a broker outage mid-stream and an agent killed with SIGKILL lose
nothing, and sequence numbers stay complete and unique. (These were flaky before: the link's publisher held its lock
around client.publish() while paho called on_publish under its own lock, a lock-order deadlock now removed.)"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edge.fleet.link import DeviceLink
from tests.fixtures.mqtt import Consumer, link_cfg
from tests.mqtt_broker import Broker

ROOT = Path(__file__).resolve().parents[1]


def test_broker_outage_loses_nothing_and_sequence_numbers_are_complete(tmp_path):
    broker = Broker(tmp_path / "broker", persistent=True).start()
    consumer = Consumer(broker.port, "edgekit/+/events/#", persistent=True)
    link = DeviceLink(link_cfg(broker.port, tmp_path), "door2").start()
    assert link.connected.wait(5)
    for i in range(200):
        link.sink.emit({"type": "face_unknown", "n": i})
    broker.stop(graceful=True)  # the broker goes away mid-stream; the loop keeps emitting into the outbox
    for i in range(200, 500):
        link.sink.emit({"type": "face_unknown", "n": i})
    assert link.outbox.stats()["outbox_depth"] > 0
    time.sleep(0.5)
    broker.start()
    assert consumer.wait(lambda: set(range(1, 501)) <= set(consumer.event_seqs()), timeout=40), len(
        set(consumer.event_seqs())
    )
    with consumer.lock:  # a resent event is the same event: one id per sequence number (the de-duplication key)
        ids = {}
        for t, b, _ in consumer.messages:
            if "/events/" in t:
                assert ids.setdefault(b["seq"], b["id"]) == b["id"]
                assert b["n"] == b["seq"] - 1
    assert consumer.wait(lambda: link.outbox.stats()["outbox_depth"] == 0)
    link.stop()
    consumer.close()
    broker.stop()


AGENT = r"""
import sys, time
from edge.fleet.config import MqttConfig
from edge.fleet.outbox import OutboxConfig
from edge.fleet.link import DeviceLink
port, outbox, start, stop = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
link = DeviceLink(MqttConfig(host="127.0.0.1", port=port, outbox=OutboxConfig(path=outbox)), "door3").start()
link.connected.wait(5)
for i in range(start, stop):
    link.sink.emit({"type": "face_recognized", "n": i})
    time.sleep(0.002)
print("emitted", flush=True)
time.sleep(30)
"""


def test_agent_killed_mid_stream_loses_nothing_and_its_will_marks_it_offline(broker, tmp_path):
    consumer = Consumer(broker.port)
    outbox = str(tmp_path / "outbox.db")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(broker.port), outbox, "0", "400"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert consumer.wait(lambda: len(consumer.event_seqs()) >= 100, 20)
    p.send_signal(signal.SIGKILL)  # mid-stream: some events not yet emitted, some emitted but not yet sent
    p.wait()
    assert consumer.wait(lambda: any(b["state"] == "offline" for b, _ in consumer.on("door3/status")), 10)  # the will
    p2 = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(broker.port), outbox, "0", "50"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert p2.stdout.readline().strip() == "emitted"
    # every event the first run stored is delivered after the restart, and sequence numbers never repeat or go back
    assert consumer.wait(lambda: set(range(1, max(consumer.event_seqs()) + 1)) <= set(consumer.event_seqs()), 20)
    assert max(consumer.event_seqs()) > 50  # the second run's events were numbered after the first run's
    p2.kill()
    p2.wait()
    consumer.close()
