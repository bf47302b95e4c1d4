"""`edgekit bench mqtt`: events through the disk outbox to a real mosquitto at QoS 1: sustained events/s (emit ->
PUBACK -> deleted), publish-to-receive latency p50/p95 at a steady rate, and the drain rate after a broker outage
(the loop keeps emitting into the outbox while the broker is down)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import click
import numpy as np
import paho.mqtt.client as mqtt

from edge.errors import EdgekitError
from edge.ports import free_port, listening


class Mosquitto:
    """`nodelay`: the broker's `set_tcp_nodelay true` (mosquitto's default is false)."""

    def __init__(self, folder: Path, nodelay: bool = False):
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise EdgekitError("bench mqtt: mosquitto is not installed", "apt install mosquitto")
        self.port = free_port()
        self.exe, self.dir = exe, folder
        folder.chmod(0o777)
        # receive maximum and queue sized for a bench; persistence keeps the consumer's session over the outage
        (folder / "m.conf").write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser root\n"
            f"max_inflight_messages 1000\nmax_queued_messages 1000000\n"
            f"persistence true\npersistence_location {folder}/\n" + ("set_tcp_nodelay true\n" if nodelay else "")
        )
        self.proc = None

    def start(self) -> Mosquitto:
        with open(self.dir / "log", "ab") as log:
            self.proc = subprocess.Popen(
                [self.exe, "-c", str(self.dir / "m.conf")], stdout=subprocess.DEVNULL, stderr=log
            )
        if listening(self.port):
            return self
        raise EdgekitError("bench mqtt: mosquitto did not start", f"see {self.dir / 'log'}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class _Consumer:
    def __init__(self, port: int):
        self.lock = threading.Lock()
        self.seqs: list[int] = []
        self.latency: list[float] = []
        self.ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-consumer", clean_session=False)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe("edgekit/+/events/#", qos=1)
        self.c.on_subscribe = lambda *a: self.ready.set()
        self.c.on_message = self._on
        self.c.reconnect_delay_set(0.05, 0.2)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.ready.wait(5)

    def _on(self, c, u, msg):
        now = time.time()
        body = json.loads(msg.payload)
        with self.lock:
            self.seqs.append(body["seq"])
            if "t" in body:
                self.latency.append(now - body["t"])

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def _wait_drained(link, timeout: float) -> float:
    t0 = time.perf_counter()
    while link.outbox.depth and time.perf_counter() - t0 < timeout:
        time.sleep(0.005)
    return time.perf_counter()


@click.command()
@click.option("--events", default=20000, show_default=True, help="events for the sustained-throughput run")
@click.option("--rate", default=500, show_default=True, help="events/s for the latency run")
@click.option("--latency-events", default=5000, show_default=True)
@click.option("--outage", default=10.0, show_default=True, help="broker outage in seconds (the issue's figure: 60)")
@click.option("--outage-rate", default=2000, show_default=True, help="events/s the loop emits during the outage")
@click.option("--inflight", default=None, type=int, help="mqtt.max_inflight (default: the config default)")
@click.option(
    "--outbox-max",
    default=200_000,
    show_default=True,
    help="mqtt.outbox.max_messages (the default 100000 would drop the oldest of a 60 s x 2000/s backlog, by design)",
)
def command(events, rate, latency_events, outage, outage_rate, inflight, outbox_max):
    """Events/s through the disk outbox to mosquitto at QoS 1, latency p50/p95, drain rate after an outage.
    \f
    A bench script, read top to bottom on purpose (~75 lines): set-up, three measurements, the delivery check,
    teardown."""
    from edge.fleet.config import MqttConfig
    from edge.fleet.link import DeviceLink
    from edge.fleet.outbox import OutboxConfig

    work = Path(tempfile.mkdtemp(prefix="edgekit-bench-mqtt-"))
    broker = Mosquitto(work).start()
    consumer = _Consumer(broker.port)
    extra = {"max_inflight": inflight} if inflight else {}
    cfg = MqttConfig(
        host="127.0.0.1",
        port=broker.port,
        device_id="bench",
        telemetry_interval_s=3600,
        outbox=OutboxConfig(path=str(work / "outbox.db"), max_messages=outbox_max),
        **extra,
    )
    link = DeviceLink(cfg).start()
    if not link.connected.wait(10):
        raise EdgekitError(f"bench mqtt: the link did not connect ({link.last_error})")
    event = {
        "type": "face_recognized",
        "identity": "Ann",
        "score": 0.81,
        "track_id": 7,
        "box": [100.0, 80.0, 220.0, 230.0],
    }
    try:
        click.echo(
            f"mqtt bench: mosquitto on 127.0.0.1:{broker.port}, outbox {work / 'outbox.db'} (SQLite WAL), QoS 1, "
            f"max_inflight {cfg.max_inflight}"
        )
        # 1. sustained: emit as fast as the loop can, until every event is PUBACKed and deleted
        t0 = time.perf_counter()
        for _ in range(events):
            link.sink.emit({**event, "time": time.time()})
        t_emit = time.perf_counter() - t0
        t_end = _wait_drained(link, 120) - t0
        click.echo(
            f"sustained: {events} events emitted in {t_emit:.2f} s ({events / t_emit:,.0f}/s into the outbox), "
            f"all acknowledged in {t_end:.2f} s: {events / t_end:,.0f} events/s end to end"
        )

        # 2. latency at a steady rate: emit (outbox write) -> received by a subscriber
        with consumer.lock:
            consumer.latency.clear()
        period, t0 = 1.0 / rate, time.perf_counter()
        for i in range(latency_events):
            while time.perf_counter() < t0 + i * period:
                time.sleep(period / 4)
            link.sink.emit({**event, "time": time.time(), "t": time.time()})
        _wait_drained(link, 60)
        time.sleep(0.3)
        with consumer.lock:
            lat = np.array(consumer.latency) * 1000
        if len(lat):
            click.echo(
                f"latency at {rate}/s over {len(lat)} events: p50 {np.percentile(lat, 50):.1f} ms, "
                f"p95 {np.percentile(lat, 95):.1f} ms, max {lat.max():.1f} ms"
            )

        # 3. outage: the broker goes away, the loop keeps emitting; then measure the drain
        broker.stop()
        deadline, n, t0 = time.perf_counter() + outage, 0, time.perf_counter()
        while time.perf_counter() < deadline:
            target = int((time.perf_counter() - t0) * outage_rate)
            while n < target:
                link.sink.emit({**event, "time": time.time()})
                n += 1
            time.sleep(0.002)
        backlog = link.outbox.depth
        broker.start()
        t0 = time.perf_counter()
        if not link.connected.wait(40):
            raise EdgekitError("bench mqtt: the link did not reconnect after the outage")
        t_conn = time.perf_counter() - t0
        t_done = _wait_drained(link, 600) - t0
        drain = backlog / max(t_done - t_conn, 1e-9)
        click.echo(
            f"outage: {outage:g} s at {outage_rate}/s -> backlog {backlog} events in the outbox; reconnected after "
            f"{t_conn:.1f} s (paho backoff), drained in {t_done - t_conn:.2f} s: {drain:,.0f} events/s"
        )
        time.sleep(1.0)
        with consumer.lock:
            seqs = consumer.seqs[:]
        total = events + latency_events + n
        missing = set(range(1, total + 1)) - set(seqs)
        dropped = link.outbox.stats()["messages_dropped"]
        click.echo(
            f"delivery: {len(set(seqs))}/{total} distinct sequence numbers received, {len(missing)} missing "
            f"({dropped} dropped by the outbox bound of {outbox_max}), {len(seqs) - len(set(seqs))} duplicates"
        )
    finally:
        link.stop(flush_timeout_s=2)
        consumer.close()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
