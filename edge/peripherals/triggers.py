"""Triggers from a microcontroller (doorbell button, PIR motion) start a recognition burst.

Protocol: one ASCII line per trigger, `BUTTON` or `MOTION`, optionally followed by a name (`BUTTON front`,
`MOTION hall`). Anything else is not ours and is left for the other listeners on the port. Outside a burst the camera
loop can idle at a low rate; a trigger runs it at full rate for `burst_s` seconds, and each further trigger extends it.
Every BUTTON press is an event (someone rang); MOTION is an event only when it starts a burst (a PIR re-fires every
few seconds while someone stands there, and those repeats say nothing new)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edge.events.types import Trigger
from edge.peripherals.config import TriggersConfig


class Triggers:
    def __init__(self, cfg: TriggersConfig, emit: Callable[[dict], None]):
        self.cfg, self._emit = cfg, emit
        self._until = 0.0  # time.monotonic() at which the burst ends
        self._lock = threading.Lock()
        self.count = 0

    def handle_line(self, line: str, now: float | None = None) -> bool:
        parts = line.split(maxsplit=1)
        if not parts or parts[0].upper() not in ("BUTTON", "MOTION"):
            return False
        kind = parts[0].upper()
        if kind not in self.cfg.kinds:
            return True  # ours, but this site does not burst on it
        name = parts[1].strip()[:32] if len(parts) > 1 else None
        now = time.monotonic() if now is None else now
        with self._lock:
            starts = now >= self._until
            self._until = now + self.cfg.burst_s
        self.count += 1
        if kind == "BUTTON" or starts:
            self._emit(Trigger(kind=kind.lower(), name=name, burst_s=self.cfg.burst_s, new_burst=starts))
        return True

    def burst_active(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) < self._until
