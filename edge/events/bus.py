"""The one path every event takes: stamp (id, time) -> enrichers (position, crop, snapshot: fields added to the
typed event) -> watchers (parts that react to events, the relay: they see the JSON before any sink does) -> sinks.
Capture, peripherals' reader threads and the app all emit here; one re-entrant lock keeps events whole and in order
(a watcher may emit an event of its own, the relay's audit, which then leaves before the one it reacted to).

A sink that fails (disk full, its folder gone, a closed pipe) never stops the loop or the other sinks: they hear one
`sink_error` event naming it, again at most once a minute while it lasts."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable

from edge.events.sinks import EventSink
from edge.events.types import Event, SinkError

Enricher = Callable[[Event], None]
Watcher = Callable[[dict], None]


class EventBus:
    SINK_ERROR_REPEAT_S = 60.0

    def __init__(
        self, sinks: Iterable[EventSink] = (), enrichers: Iterable[Enricher] = (), watchers: Iterable[Watcher] = ()
    ):
        self.sinks, self.enrichers, self.watchers = list(sinks), list(enrichers), list(watchers)
        self.emitted = 0
        self._lock = threading.RLock()
        self._failing: dict[int, tuple[str, float, int]] = {}  # sink index -> (error, last reported, events lost)

    def emit(self, event: Event) -> dict:
        """Send one event; returns the JSON the sinks got."""
        with self._lock:
            event.id = event.id or uuid.uuid4().hex
            event.time = time.time() if event.time is None else event.time
            for enrich in self.enrichers:
                enrich(event)
            data = event.to_json()
            for watch in self.watchers:
                watch(data)
            self._deliver(data)
            self.emitted += 1
            return data

    def _deliver(self, data: dict) -> None:
        failed = []
        for i, sink in enumerate(self.sinks):
            try:
                sink.emit(data)
            except Exception as e:  # noqa: BLE001 - whatever a sink raises, the loop goes on
                failed.append((i, f"{e.__class__.__name__}: {e}"[:300]))
            else:
                self._failing.pop(i, None)
        for i, error in failed:
            self._report(i, error)

    def _report(self, i: int, error: str) -> None:
        last_error, last_time, lost = self._failing.get(i, ("", float("-inf"), 0))
        now = time.monotonic()
        if error == last_error and now - last_time < self.SINK_ERROR_REPEAT_S:
            self._failing[i] = (last_error, last_time, lost + 1)
            return
        self._failing[i] = (error, now, 0)
        name = getattr(self.sinks[i], "name", type(self.sinks[i]).__name__)
        report = SinkError(sink=name, error=error, events_lost=lost + 1, id=uuid.uuid4().hex, time=time.time())
        data = report.to_json()
        for j, sink in enumerate(self.sinks):
            if j != i and j not in self._failing:
                try:
                    sink.emit(data)
                except Exception:  # noqa: BLE001 - reported on its own next emit
                    pass

    def close(self) -> None:
        with self._lock:
            for sink in self.sinks:
                try:
                    sink.close()
                except Exception:  # noqa: BLE001 - a sink that cannot close (disk full) must not block the others
                    pass
