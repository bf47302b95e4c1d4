"""`edgekit bench ingest`: events per second from mosquitto into the fleet store (SQLite, PostgreSQL), with many
simulated devices, checked for exactly-once at the end; then the newest-100 query against a large store.

How: the `fleet ingest` workers (real processes) subscribe once and stop, so the broker keeps their sessions; the
events of `--devices` simulated devices (1% of them sent twice, as a reconnecting device would) are published at
QoS 1 into those queues; then the workers start again and the clock runs from their subscription until the store holds
every event. This measures the ingest side alone: on one machine a live publisher competes with it for the CPU."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import click
import paho.mqtt.client as mqtt

from edge.errors import EdgekitError

ROOT = Path(__file__).resolve().parents[1]


def _events(devices: int, total: int) -> list[tuple[str, bytes]]:
    per, out, t0 = max(1, total // devices), [], time.time() - 3600
    for s in range(1, per + 1):
        for d in range(devices):
            dev = f"dev-{d:04d}"
            body = {
                "type": "face_unknown",
                "track_id": s,
                "score": 0.91,
                "box": [0.1, 0.2, 0.3, 0.4],
                "id": uuid.uuid4().hex,
                "time": t0 + s * 0.5 + d * 1e-4,
                "seq": s,
                "device_id": dev,
            }
            out.append((f"edgekit/{dev}/events/face_unknown", json.dumps(body, separators=(",", ":")).encode()))
    return out


def _publish(port: int, messages: list[tuple[str, bytes]]) -> float:
    """QoS 1, all acknowledged by the broker; returns messages per second."""
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
    )
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    t = time.perf_counter()
    for at in range(0, len(messages), 5000):  # in slices: paho refuses to queue without bound
        infos = [c.publish(topic, payload, qos=1) for topic, payload in messages[at : at + 5000]]
        for info in infos:
            info.wait_for_publish(60)
    rate = len(messages) / (time.perf_counter() - t)
    c.disconnect()
    c.loop_stop()
    return rate


class WorkerProcess:
    """One `edgekit fleet ingest` process, started as an operator starts it: the one way the bench and the tests
    launch a worker."""

    def __init__(self, port: int, db: str, group: str, name: str, log: Path):
        self.args = [sys.executable, "-m", "edge.cli", "fleet", "ingest", "--port", str(port), "--db", db]
        self.args += ["--group", group, "--worker", name]
        self.log, self.proc = log, None

    def launch(self) -> WorkerProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.log, "w") as log:  # a fresh log: the ready line below is this run's
            self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, env=env)
        return self

    def ready(self) -> bool:
        """Subscribed (it logs its topics then); an EdgekitError with its log's tail when it exited instead."""
        if self.proc.poll() is not None:
            raise EdgekitError(f"bench ingest: a worker did not start: {self.log.read_text()[-300:]}")
        return " -> " in self.log.read_text()

    def start(self, timeout: float = 60) -> WorkerProcess:
        self.launch()
        _until([self], timeout)
        return self

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no goodbye, nothing flushed
        self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM (it commits and acknowledges what it holds); how many new events this run stored."""
        self.proc.terminate()
        self.proc.wait(60)
        lines = [ln for ln in self.log.read_text().splitlines() if " stored " in ln]
        return int(lines[-1].split(" stored ")[1].split()[0]) if lines else 0


def _until(workers: list[WorkerProcess], timeout: float) -> None:
    deadline = time.time() + timeout
    while not all(w.ready() for w in workers):
        if time.time() > deadline:
            raise EdgekitError(
                "bench ingest: a worker did not subscribe in time: "
                + " | ".join(w.log.read_text()[-300:] for w in workers)
            )
        time.sleep(0.05)


class _Workers:
    def __init__(self, n: int, port: int, db: str, group: str, logs: Path):
        self.procs = [WorkerProcess(port, db, group, str(i + 1), logs / f"{group}-{i + 1}.log") for i in range(n)]

    def start(self) -> None:
        for w in self.procs:  # all at once, then wait for every one
            w.launch()
        _until(self.procs, 60)

    def cpu_s(self) -> float:
        import psutil

        return sum(sum(psutil.Process(w.proc.pid).cpu_times()[:2]) for w in self.procs)

    def stop(self) -> None:
        for w in self.procs:
            w.proc.terminate()
        for w in self.procs:
            w.proc.wait(60)


def run_backend(name: str, db: str, workers: int, port: int, messages, unique: int, work: Path) -> dict:
    from fleetctl.store import open_store

    store = open_store(db)  # the schema, before the workers
    group = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    w = _Workers(workers, port, db, group, work)
    w.start()  # the sessions and the shared subscription now exist at the broker
    w.stop()
    publish_rate = _publish(port, messages)
    w.start()
    cpu0 = w.cpu_s()
    t = time.perf_counter()  # the workers are connected and subscribed: the clock measures their ingest alone
    # a plain COUNT(*) to watch (12 ms at 100k rows in PostgreSQL); counts()' COUNT(DISTINCT ...) takes 270 ms there,
    # and polled in a loop it took a core from the workers it measures
    while store.execute("SELECT COUNT(*) FROM events")[0][0] < unique and time.perf_counter() - t < 600:
        time.sleep(0.1)
    elapsed = time.perf_counter() - t
    cpu = w.cpu_s() - cpu0
    time.sleep(1.0)  # a late duplicate would land now
    w.stop()
    c = store.counts()
    store.close()
    return {
        "events_per_s": round(c["events"] / elapsed),
        "stored": c["events"],
        "duplicates": c["events"] - c["distinct"],
        "missing": unique - c["distinct"],
        "workers": workers,
        "published": len(messages),
        "publish_per_s": round(publish_rate),
        "seconds": round(elapsed, 2),
        # the workers' own CPU (user + system) per stored event, without the broker's and the database's share
        "worker_cpu_us_per_event": round(cpu / max(1, c["events"]) * 1e6, 1),
    }


def _timed(store, runs: int = 20, **query) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        store.events(limit=100, **query)
        times.append((time.perf_counter() - t) * 1000)
    return round(sorted(times)[len(times) // 2], 2)


def query_figures(url: str, rows: int) -> dict:
    """The newest 100 events, of the fleet and of one device, with `rows` events stored (generate_series)."""
    import psycopg

    from fleetctl.store import open_store

    with psycopg.connect(url, autocommit=True) as db:
        (have,) = db.execute("SELECT COUNT(*) FROM events").fetchone()
        t = time.perf_counter()
        if rows > have:
            db.execute(
                """INSERT INTO events SELECT 'gen-' || lpad(mod(i, 1000)::text, 4, '0'), i, 'face_unknown',
                          1.6e9 + i * 0.01, 1.6e9 + i * 0.01, jsonb_build_object('type', 'face_unknown', 'seq', i,
                          'track_id', mod(i, 97), 'score', 0.9, 'device_id', 'gen-' || lpad(mod(i, 1000)::text, 4, '0'))
                          FROM generate_series(%s::bigint, %s::bigint) AS i""",
                (have + 1, rows),
            )
            db.execute("VACUUM ANALYZE events")
        load_s = time.perf_counter() - t
        (n,) = db.execute("SELECT COUNT(*) FROM events").fetchone()
        plan = [r[0] for r in db.execute("EXPLAIN SELECT body FROM events ORDER BY time DESC LIMIT 100")]
    store = open_store(url)
    try:
        return {
            "stored": n,
            "load_s": round(load_s, 1),
            "last_100_ms": _timed(store),
            "last_100_one_device_ms": _timed(store, device="gen-0007"),
            "plan": plan[:2],
        }
    finally:
        store.close()


@click.command()
@click.option("--devices", default=1000, show_default=True, help="simulated devices")
@click.option("--events", default=100_000, show_default=True, help="events in all (spread over the devices)")
@click.option("--workers", default=2, show_default=True, help="PostgreSQL ingest workers on one shared subscription")
@click.option("--pg-url", help="a PostgreSQL to use (default: a throwaway server from the installed binaries)")
@click.option(
    "--query-rows",
    default=0,
    show_default=True,
    help="then load this many events (generate_series) and time the newest-100 query (the issue's figure: 10000000)",
)
@click.option("--skip-sqlite", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def command(devices, events, workers, pg_url, query_rows, skip_sqlite, as_json):
    """Ingest events/s into SQLite and PostgreSQL, exactly-once checked; the newest-100 query at scale."""
    from edge.bench.mqtt import Mosquitto
    from fleetctl.pgserver import TempPostgres

    work = Path(tempfile.mkdtemp(prefix="edgekit-bench-ingest-"))
    messages = _events(devices, events)
    unique = len(messages)
    random.seed(16)
    messages += random.sample(messages, unique // 100)  # redelivered copies: stored once all the same
    (work / "broker").mkdir()
    broker = Mosquitto(work / "broker").start()
    pg = None
    out = {}
    try:
        if not skip_sqlite:
            out["sqlite"] = run_backend(
                "sqlite", f"sqlite:///{work / 'fleet.db'}", 1, broker.port, messages, unique, work
            )
        if pg_url is None:
            pg = TempPostgres().start()
            pg_url = pg.url
        out["postgresql"] = run_backend("postgresql", pg_url, workers, broker.port, messages, unique, work)
        if query_rows:
            out["postgresql"]["query"] = query_figures(pg_url, query_rows)
    finally:
        broker.stop()
        if pg is not None:
            pg.remove()
        shutil.rmtree(work, ignore_errors=True)
    out["machine"] = {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 1), "devices": devices}
    if as_json:
        click.echo(json.dumps(out))
        return
    for name, r in out.items():
        if name != "machine":
            click.echo(
                f"{name:<11} {r['events_per_s']:>7} events/s  stored {r['stored']} duplicates {r['duplicates']} "
                f"missing {r['missing']} workers {r['workers']} (published {r['published']} at {r['publish_per_s']}/s)"
            )
    if "query" in out.get("postgresql", {}):
        q = out["postgresql"]["query"]
        click.echo(
            f"newest 100 of {q['stored']} stored: {q['last_100_ms']} ms (one device: {q['last_100_one_device_ms']} ms)"
        )
