"""The one path every event takes: stamp (id, time) -> enrichers (position, crop, snapshot: fields added to the
typed event) -> watchers (parts that react to events, the relay: they see the JSON before any sink does) -> sinks.
Capture, peripherals' reader threads and the app all emit here; one re-entrant lock keeps events whole and in order
(a watcher may emit an event of its own, the relay's audit, which then leaves before the one it reacted to)."""
from __future__ import annotations

import threading
import time
import uuid
from typing import Callable, Iterable

from edge.events.sinks import EventSink
from edge.events.types import Event

Enricher = Callable[[Event], None]
Watcher = Callable[[dict], None]


class EventBus:
    def __init__(self, sinks: Iterable[EventSink] = (), enrichers: Iterable[Enricher] = (),
                 watchers: Iterable[Watcher] = ()):
        self.sinks, self.enrichers, self.watchers = list(sinks), list(enrichers), list(watchers)
        self.emitted = 0
        self._lock = threading.RLock()

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
            for sink in self.sinks:
                sink.emit(data)
            self.emitted += 1
            return data

    def close(self) -> None:
        with self._lock:
            for sink in self.sinks:
                sink.close()
