"""Graceful stop: SIGTERM (systemd's stop) and SIGINT (Ctrl-C) set a flag instead of killing the loop mid-frame.

The loop checks `stop.requested` (or the callbacks stop its source), then flushes in-flight events to the outbox,
publishes offline status and sends STOPPING, all inside TimeoutStopSec. A second signal means "now": the default
handler is restored and the signal re-raised, so a wedged shutdown can still be interrupted."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable


class GracefulStop:
    def __init__(
        self, on_stop: Iterable[Callable[[], None]] = (), signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)
    ):
        # Callbacks run inside the signal handler (on the main thread, between bytecodes): they should only set
        # flags or events (e.g. Capture.stop), never take a lock the loop may hold.
        self.callbacks = list(on_stop)
        self.signals = tuple(signals)
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.event.wait(timeout)

    def install(self) -> GracefulStop:
        for sig in self.signals:  # raises ValueError off the main thread, as signal.signal does
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.event.is_set():
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signal_name = signal.Signals(signum).name
        self.event.set()
        for callback in self.callbacks:
            callback()

    def __enter__(self) -> GracefulStop:
        return self.install()

    def __exit__(self, *exc) -> None:
        self.restore()
