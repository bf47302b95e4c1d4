"""Pacing by the peripherals: outside a trigger burst they ask for a low frame rate; frames the camera delivers
meanwhile are skipped on purpose and counted apart from drops under load."""

from __future__ import annotations

import threading
import time


class Pacer:
    def __init__(self, peripherals, capture, stop: threading.Event):
        self.peripherals, self.capture, self.stop = peripherals, capture, stop
        self.idle_skipped = 0

    def wait(self) -> None:
        gap = self.peripherals.min_frame_interval() if self.peripherals is not None else 0.0
        if gap <= 0:
            return
        before = self.capture.dropped
        end = time.monotonic() + gap
        # wake early when a trigger starts a burst
        while not self.stop.is_set() and time.monotonic() < end and not self.peripherals.burst_active():
            self.stop.wait(min(0.05, end - time.monotonic()))
        self.idle_skipped += self.capture.dropped - before
