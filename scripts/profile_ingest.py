"""Where an ingest worker's time goes: one in-process `IngestWorker` drains N events the bench's way (queued in its
persistent session first), and prints the CPU time per event of its two threads, paho's network loop (receive,
decode, the acknowledgements' writes) and the writer (parse, insert, commit, ack calls); `--cprofile` adds each
thread's top functions. A development tool (it runs paho's loop in a thread of its own to time it), not a bench.

    PYTHONPATH=. python scripts/profile_ingest.py pg 20000 [--cprofile]
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path

from edge.bench.mqtt import Mosquitto
from fleetctl.bench_ingest import _events, _publish
from fleetctl.ingest import IngestConfig, IngestWorker
from fleetctl.pgserver import TempPostgres
from fleetctl.store import open_store


class TimedWorker(IngestWorker):
    def __init__(self, *a, profile: bool = False, **kw):
        super().__init__(*a, **kw)
        self.profile, self.profiles, self.cpu = profile, {}, {}
        self.client.loop_start = self._loop_start  # paho's loop in a thread this can time

    def _timed(self, name: str, fn) -> None:
        p = self.profiles[name] = cProfile.Profile()
        if self.profile:
            p.enable()
        try:
            fn()
        finally:
            p.disable()
            self.cpu[name] = time.thread_time()

    def _write_loop(self) -> None:
        self._timed("writer", super()._write_loop)

    def _loop_start(self) -> None:
        run = lambda: self._timed("network", lambda: self.client.loop_forever(retry_first_connection=False))  # noqa: E731
        self._net = threading.Thread(target=run, daemon=True)
        self._net.start()


def main(kind: str, n: int, profile: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="edgekit-profile-ingest-"))
    (work / "broker").mkdir()
    broker = Mosquitto(work / "broker").start()
    pg = TempPostgres().start() if kind == "pg" else None
    url = pg.url if pg else f"sqlite:///{work / 'fleet.db'}"
    try:
        cfg = IngestConfig(port=broker.port, worker="p1", group="profile")
        first = IngestWorker(cfg, open_store(url)).start()  # the session and its subscription, then away
        assert first.subscribed.wait(10)
        first.stop()
        _publish(broker.port, _events(1000, n))
        store = open_store(url)
        w = TimedWorker(cfg, open_store(url), profile=profile)
        t = time.perf_counter()
        w.start()
        while store.execute("SELECT COUNT(*) FROM events")[0][0] < n:
            time.sleep(0.1)
        elapsed = time.perf_counter() - t
        w.running = False
        w._writer.join()
        w.client.disconnect()
        w._net.join(5)
        per = {k: round(v / n * 1e6, 1) for k, v in w.cpu.items()}
        print(f"{kind}: {n / elapsed:.0f} events/s, CPU us per event by thread: {per}")
        for name, p in w.profiles.items() if profile else ():
            out = io.StringIO()
            pstats.Stats(p, stream=out).sort_stats("tottime").print_stats(15)
            print(f"== {name}\n{out.getvalue()}")
    finally:
        broker.stop()
        if pg:
            pg.remove()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20000, "--cprofile" in sys.argv)
