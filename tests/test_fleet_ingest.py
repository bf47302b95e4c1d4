"""`fleet ingest` on a real mosquitto into SQLite and a real PostgreSQL, with real device links: every event stored
exactly once under faults (the broker restarted mid-stream, a worker killed with -9 and restarted, two workers on one
shared subscription), and gaps reported exactly where a device's outbox bound really dropped events."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edge.fleet.config import MqttConfig
from edge.fleet.link import DeviceLink
from edge.fleet.outbox import OutboxConfig
from fleetctl.bench_ingest import WorkerProcess
from fleetctl.ingest import IngestConfig, IngestWorker
from fleetctl.store import Gap, open_store
from tests.fixtures.mqtt import Consumer, link_cfg
from tests.mqtt_broker import MOSQUITTO, Broker

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto (Debian package mosquitto)")


def _devices(port: int, tmp_path: Path, n: int, **kw) -> list[DeviceLink]:
    links = [
        DeviceLink(link_cfg(port, tmp_path / f"d{i}", **kw), f"door{i}", {"app": "doorbell"}).start() for i in range(n)
    ]
    for link in links:
        assert link.connected.wait(10), link.last_error
    return links


def _wait(pred, timeout=60.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def _stored(store) -> int:
    return store.counts()["events"]


def test_worker_stores_events_status_and_telemetry(broker, store_url, tmp_path):
    store = open_store(store_url)
    worker = IngestWorker(IngestConfig(port=broker.port, worker="t1"), open_store(store_url)).start()
    assert worker.subscribed.wait(10)
    links = _devices(broker.port, tmp_path, 3)
    try:
        for i in range(100):
            for link in links:
                link.sink.emit({"type": "face_unknown" if i % 2 else "face_recognized", "n": i})
        assert _wait(lambda: _stored(store) >= 300 and all(d["telemetry"] for d in store.devices()), 30), store.counts()
        assert store.counts() == {"events": 300, "distinct": 300, "devices": 3}
        assert store.gaps() == []
        devices = {d["device"]: d for d in store.devices()}
        assert devices["door1"]["status"]["state"] == "online" and "uptime_s" in devices["door1"]["telemetry"]
        assert {e["n"] for e in store.events(device="door2", kind="face_unknown", limit=1000)} == set(range(1, 100, 2))
        links[0].stop()  # its retained status goes offline, and the store follows
        links = links[1:]
        assert _wait(lambda: {d["device"]: d for d in store.devices()}["door0"]["status"]["state"] == "offline", 10)
    finally:
        for link in links:
            link.stop()
        worker.stop()
        worker.store.close()
        store.close()


def _emit(links, per_device: int, pause_s: float) -> threading.Thread:
    def run():
        for i in range(per_device):
            for link in links:
                link.sink.emit({"type": "face_unknown", "n": i})
            time.sleep(pause_s)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_exactly_once_with_two_workers_a_kill_9_and_a_broker_restart(store_url, tmp_path):
    broker = Broker(tmp_path / "broker", persistent=True).start()
    store = open_store(store_url)  # the schema exists before two workers race to create it
    w1 = WorkerProcess(broker.port, store_url, "g", "w1", tmp_path / "w1.log").start()
    w2 = WorkerProcess(broker.port, store_url, "g", "w2", tmp_path / "w2.log").start()
    links = _devices(broker.port, tmp_path, 3)
    try:
        emitter = _emit(links, 400, 0.01)  # 1,200 events over about 6 s
        assert _wait(lambda: _stored(store) > 150, 30)
        w1.kill()  # mid-batch, with messages it may have stored but not acknowledged
        time.sleep(0.5)
        w1.start()
        assert _wait(lambda: _stored(store) > 600, 30)
        broker.stop(graceful=True)  # mosquitto saves the sessions and their queues
        time.sleep(1.0)
        broker.start()
        emitter.join(60)
        assert _wait(lambda: _stored(store) >= 1200, 60), store.counts()
        time.sleep(1.0)  # anything redelivered late would show up now
        assert store.counts() == {"events": 1200, "distinct": 1200, "devices": 3}
        assert store.gaps() == []
        assert sorted(s for (s,) in store.execute("SELECT seq FROM events WHERE device_id = 'door1'")) == list(
            range(1, 401)
        )
    finally:
        for link in links:
            link.stop()
        counts = [w.stop() for w in (w1, w2)]
        broker.stop()
        store.close()
    assert all(n > 0 for n in counts), counts  # the shared subscription gave both workers a share


def test_gaps_are_reported_exactly_where_the_outbox_dropped_events(store_url, tmp_path):
    broker = Broker(tmp_path / "broker", persistent=True).start()
    store = open_store(store_url)
    worker = IngestWorker(IngestConfig(port=broker.port, worker="g1"), open_store(store_url)).start()
    assert worker.subscribed.wait(10)
    truth = Consumer(broker.port, "edgekit/door0/events/#", persistent=True)  # what really reached the broker
    cfg = MqttConfig(
        host="127.0.0.1",
        port=broker.port,
        telemetry_interval_s=0.5,
        outbox=OutboxConfig(path=str(tmp_path / "d0" / "o.db"), max_messages=50),
    )
    link = DeviceLink(cfg, "door0").start()
    try:
        assert link.connected.wait(10)
        for i in range(20):
            link.sink.emit({"type": "face_unknown", "n": i})
        assert _wait(lambda: _stored(store) >= 20, 20)
        broker.stop(graceful=True)
        assert _wait(lambda: not link.connected.is_set(), 10)
        for i in range(120):  # the outbox keeps the newest 50: about 70 are dropped
            link.sink.emit({"type": "face_unknown", "n": 20 + i})
        broker.start()
        assert _wait(lambda: link.outbox.depth == 0, 30)
        # the truth consumer is a client like the worker: wait for it to hold the newest event too (a faster worker
        # had stored 128-140 while it had not yet received them)
        assert _wait(lambda: 140 in set(truth.event_seqs()), 20)
        seen = set(truth.event_seqs())
        assert _wait(lambda: _stored(store) >= len(seen), 20)
        stored = {s for (s,) in store.execute("SELECT seq FROM events")}
        assert stored == seen and max(stored) == 140
        assert link.outbox.stats()["messages_dropped"] > 0
        missing = sorted(set(range(1, 141)) - seen)
        assert missing, "the outbox bound dropped nothing: the test proves nothing"
        gaps = store.gaps()
        assert [s for g in gaps for s in range(g.first, g.last + 1)] == missing
        assert all(isinstance(g, Gap) and g.device_id == "door0" for g in gaps)
    finally:
        link.stop()
        truth.close()
        worker.stop()
        worker.store.close()
        broker.stop()
        store.close()


def test_the_worker_applies_retention_as_it_runs(broker, store_url, tmp_path):
    store = open_store(store_url)
    cfg = IngestConfig(port=broker.port, worker="r1", retention_s=1.5, prune_every_s=0.2)
    worker = IngestWorker(cfg, open_store(store_url)).start()
    assert worker.subscribed.wait(10)
    (link,) = _devices(broker.port, tmp_path, 1)
    try:
        for i in range(10):
            link.sink.emit({"type": "face_unknown", "n": i})
        assert _wait(lambda: _stored(store) == 10, 20)
        assert _wait(lambda: _stored(store) == 0, 10)  # received more than 1.5 s ago: deleted by the running worker
    finally:
        link.stop()
        worker.stop()
        worker.store.close()
        store.close()


def test_payloads_that_are_not_events_are_skipped_and_the_rest_stored(broker, store_url, tmp_path):
    import paho.mqtt.client as mqtt

    store = open_store(store_url)
    worker = IngestWorker(IngestConfig(port=broker.port, worker="b1"), open_store(store_url)).start()
    assert worker.subscribed.wait(10)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bad-device")
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    try:
        topic = "edgekit/door9/events/face_unknown"
        for payload in (b"\xff\xfe{}", b"not json", b"[1, 2]", b'{"type": "face_unknown"}', b'{"seq": "2"}'):
            pub.publish(topic, payload, qos=1).wait_for_publish(5)
        pub.publish(topic, b'{"type": "face_unknown", "seq": 1, "note": "caf\xc3\xa9"}', qos=1).wait_for_publish(5)
        assert _wait(lambda: _stored(store) == 1, 20)
        (event,) = store.events(device="door9")
        assert event["seq"] == 1 and event["note"] == "café"
        assert worker.last_error is None
    finally:
        pub.loop_stop()
        pub.disconnect()
        worker.stop()
        worker.store.close()
        store.close()


@pytest.mark.xfail(
    strict=True,
    reason="mosquitto 2.0.11 does not restore shared subscriptions from its persistence file (plain ones it does): "
    "after a broker restart, events published before the workers subscribe again are acknowledged to the device "
    "and dropped (docs/benchmarks.md, Fleet ingest after profiling)",
)
def test_events_published_after_a_broker_restart_before_the_workers_return_are_kept(store_url, tmp_path):
    broker = Broker(tmp_path / "broker", persistent=True).start()
    store = open_store(store_url)
    worker = IngestWorker(IngestConfig(port=broker.port, worker="s1"), open_store(store_url)).start()
    assert worker.subscribed.wait(10)
    worker.stop()  # away, its session (and the shared subscription in it) kept by the broker
    worker.store.close()
    broker.stop(graceful=True)  # mosquitto writes its sessions to disk and reads them back at start
    broker.start()
    (link,) = _devices(broker.port, tmp_path, 1)
    try:
        for i in range(5):
            link.sink.emit({"type": "face_unknown", "n": i})
        assert _wait(lambda: link.outbox.depth == 0, 20)  # the broker acknowledged all five
        worker = IngestWorker(IngestConfig(port=broker.port, worker="s1"), open_store(store_url)).start()
        assert worker.subscribed.wait(10)
        assert _wait(lambda: _stored(store) == 5, 10), store.counts()
    finally:
        link.stop()
        worker.stop()
        worker.store.close()
        broker.stop()
        store.close()


def test_a_device_whose_outbox_was_wiped_keeps_every_new_event(broker, store_url, tmp_path):
    """A re-flashed SD card (or a deleted outbox.db) starts the device's sequence numbers at 1 again under the same
    device id. The store must keep those events, not skip them as repeats of the old ones, and report no gap."""
    store = open_store(store_url)
    worker = IngestWorker(IngestConfig(port=broker.port, worker="t1"), open_store(store_url)).start()
    assert worker.subscribed.wait(10)
    (link,) = _devices(broker.port, tmp_path, 1)
    try:
        for i in range(5):
            link.sink.emit({"type": "face_unknown", "n": i})
        assert _wait(lambda: _stored(store) >= 5, 30), store.counts()
        link.stop()
        for f in (tmp_path / "d0").glob("outbox.db*"):
            f.unlink()
        (link,) = _devices(broker.port, tmp_path, 1)
        for i in range(5, 8):
            link.sink.emit({"type": "face_unknown", "n": i})
        assert _wait(lambda: _stored(store) >= 8, 15), store.counts()
        assert {e["n"] for e in store.events(device="door0", limit=100)} == set(range(8))
        assert store.counts() == {"events": 8, "distinct": 8, "devices": 1}
        assert store.gaps() == []
    finally:
        link.stop()
        worker.stop()
        worker.store.close()
        store.close()
