"""`edgekit bench pipeline --source rtsp://...|http://...`: the doorbell loop on a live network camera for a while:
frames processed and dropped (newest frame wins), per-stage times, reconnects, and, when the camera's frames carry
the test servers' time stamp (edge.bench.stamp), capture-to-event latency:

- decoded: stamp -> the frame is decoded and waiting for the loop (network, jitter buffer, decoder, FFmpeg's buffers)
- processed: stamp -> the loop has finished the frame (every event it causes has been emitted)
- events: stamp of the frame that decided -> the decision event's time
A buffer that grows shows as latency rising over the run: `drift_ms` compares the last third with the first."""

from __future__ import annotations

import threading
import time

import numpy as np

from edge.bench.stamp import read_stamp


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ms = np.asarray(values) * 1000
    return {
        "n": len(ms),
        "p50_ms": round(float(np.median(ms)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


class LatencyProbe:
    """Times each stamped frame through the loop's app, and each decision event: wraps `loop.app.process` and is
    itself one of the bus's sinks."""

    def __init__(self, warmup_s: float = 2.0):
        self.stamps: dict[int, float] = {}
        self.decoded, self.processed, self.events = [], [], []
        self.unstamped = 0
        self.counts: dict[str, int] = {}
        self.warmup_s = warmup_s
        # frames stamped before the stream has run for warmup_s are left out: a server prerolls its first frames
        # before the session plays, and the first ones wait for the connection (not the steady state)
        self.since: float | None = None

    def watch(self, app) -> None:
        inner = app.process

        def process(image, meta):
            stamp = read_stamp(image)
            if self.since is None:
                self.since = time.time() + self.warmup_s
            steady = stamp is not None and stamp >= self.since
            if steady:
                self.stamps[meta["frame_id"]] = stamp  # before the frame's own events are emitted
            inner(image, meta)
            if stamp is None:
                self.unstamped += 1
            elif steady:
                self.decoded.append(meta["frame_time"] - stamp)
                self.processed.append(time.time() - stamp)

        app.process = process

    def emit(self, event: dict) -> None:  # the sink side
        self.counts[event["type"]] = self.counts.get(event["type"], 0) + 1
        stamp = self.stamps.get(event.get("frame_id"))
        if stamp is not None and event["type"] in ("face_recognized", "face_unknown"):
            self.events.append(event["time"] - stamp)

    def close(self) -> None:
        pass

    def report(self) -> dict:
        if not self.stamps:
            return {
                "note": "the frames carry no edgekit test stamp (a real camera): no latency figure",
                "unstamped_frames": self.unstamped,
            }
        third = len(self.processed) // 3
        drift = None
        if third >= 10:
            drift = round(float(np.median(self.processed[-third:]) - np.median(self.processed[:third])) * 1000, 1)
        return {
            "decoded": percentiles(self.decoded),
            "processed": percentiles(self.processed),
            "events": percentiles(self.events),
            "drift_ms": drift,
            "unstamped_frames": self.unstamped,
        }


def run_live(cfg, seconds: float) -> dict:
    """The configured app on `cfg.source` (a network camera) for `seconds`: stats, latency and event counts."""
    from edge.site import build_loop

    probe = LatencyProbe()
    loop = build_loop(cfg, [probe])
    probe.watch(loop.app)
    threading.Timer(seconds, loop.stop).start()
    t = time.perf_counter()
    stats = loop.run()
    wall = time.perf_counter() - t
    return {
        "source": loop.capture.source.name,
        "transport": cfg.source.transport,
        "seconds": round(wall, 1),
        "frames_processed": stats["frames"],
        "fps": round(stats["frames"] / wall, 1),
        "frames_read": loop.capture.read_count,
        "dropped": stats["dropped"],
        "reopened": stats["reopened"],
        "stages": stats["stages"],
        "latency": probe.report(),
        "events": probe.counts,
    }
