"""What the loop reports: run stats when it ends, telemetry every interval over MQTT (called from the link's thread:
reads only). The app adds its own keys through the protocol."""

from __future__ import annotations

import os
import resource
import time
from collections import deque
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux: VmHWM of /proc/self/status, because ru_maxrss also counts the
    memory of the parent a process was forked from (the kernel keeps the pre-exec high-water mark)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_temperature_c() -> float | None:
    """The SoC temperature where the board exposes it (Raspberry Pi, Jetson: thermal_zone0), else None."""
    try:
        return round(int(Path("/sys/class/thermal/thermal_zone0/temp").read_text()) / 1000, 1)
    except (OSError, ValueError):
        return None


class FrameRate:
    """The current frame rate from the times of the last 120 frames (0 when none came for 5 s)."""

    def __init__(self):
        self._recent = deque(maxlen=120)

    def tick(self) -> None:
        self._recent.append(time.monotonic())

    def fps(self) -> float:
        recent = list(self._recent)
        if len(recent) < 2 or time.monotonic() - recent[-1] > 5:
            return 0.0
        return round((len(recent) - 1) / max(recent[-1] - recent[0], 1e-9), 2)


def counters(loop) -> dict:
    """The keys run stats and telemetry share."""
    return {
        "frames": loop.frames,
        "dropped": loop.capture.dropped - loop.pacer.idle_skipped,
        "idle_skipped": loop.pacer.idle_skipped,
        "rejected": loop.checks.rejected,
        "reopened": loop.capture.reopened,
        "stages": loop.timer.summary(),
        "peak_rss_mb": peak_rss_mb(),
        **({"motion": loop.motion.stats()} if loop.motion is not None else {}),
    }


def run_stats(loop) -> dict:
    elapsed = max(time.time() - loop.started, 1e-9)
    failed = {"source_failed": loop.capture.failure} if loop.capture.failure else {}  # `edgekit run` then exits 3
    return {**counters(loop), "fps": round(loop.frames / elapsed, 2), **loop.app.stats(), **failed}


def telemetry(loop) -> dict:
    data = {**counters(loop), "fps": loop.rate.fps(), "uptime_s": round(time.time() - loop.started, 1)}
    if hasattr(os, "getloadavg"):
        data["load1"] = round(os.getloadavg()[0], 2)
    temp = cpu_temperature_c()
    if temp is not None:
        data["cpu_temp_c"] = temp
    if loop.peripherals is not None:
        data["peripherals"] = loop.peripherals.stats()
        pos = loop.peripherals.position()
        if pos is not None:
            data["position"] = pos
    return {**data, **loop.app.telemetry()}
