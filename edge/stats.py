"""Per-stage timings of the loop (rolling window) for telemetry and benchmarks."""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager

import numpy as np


class StageTimer:
    def __init__(self, window: int = 1000):
        self.samples: dict[str, deque] = {}
        self.window = window
        # The loop adds while telemetry/MQTT threads summarise. Copying without a lock is not atomic: list() over a
        # dict or deque can run the garbage collector, which can switch threads mid-copy.
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            d = self.samples.get(name)
            if d is None:
                d = self.samples[name] = deque(maxlen=self.window)
            d.append(seconds * 1000.0)

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        with self._lock:
            copies = [(name, list(d)) for name, d in self.samples.items()]
        for name, values in copies:
            a = np.array(values, float)
            out[name] = {
                "p50_ms": round(float(np.percentile(a, 50)), 3),
                "p95_ms": round(float(np.percentile(a, 95)), 3),
                "n": len(a),
            }
        return out
