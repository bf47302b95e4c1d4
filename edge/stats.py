"""Per-stage timings of the loop (rolling window) for telemetry and benchmarks."""

from __future__ import annotations

import time
from collections import deque
from contextlib import contextmanager

import numpy as np


class StageTimer:
    def __init__(self, window: int = 1000):
        self.samples: dict[str, deque] = {}
        self.window = window

    @contextmanager
    def stage(self, name: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t)

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, deque(maxlen=self.window)).append(seconds * 1000.0)

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        # list() copies atomically: the telemetry thread reads while the loop appends, and adds stages
        for name, d in list(self.samples.items()):
            a = np.array(list(d), float)
            out[name] = {
                "p50_ms": round(float(np.percentile(a, 50)), 3),
                "p95_ms": round(float(np.percentile(a, 95)), 3),
                "n": len(a),
            }
        return out
