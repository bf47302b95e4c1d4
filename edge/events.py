"""Events leave the device loop through a sink. An event is a JSON-ready dict with at least `type` and `time`
(epoch seconds). Sinks: JSON lines to stdout or a file here; the MQTT sink (edge/io) adds id and sequence number."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import IO, Protocol

from edge.private import open_private


class EventSink(Protocol):
    def emit(self, event: dict) -> None: ...

    def close(self) -> None: ...


def make_event(type_: str, **fields) -> dict:
    return {"type": type_, "time": fields.pop("time", time.time()), **fields}


class JsonLinesSink:
    """One JSON object per line, flushed per event so a crash loses nothing already emitted."""

    def __init__(self, path: str | Path | None = None, stream: IO[str] | None = None):
        self._own = path is not None
        self._f = open_private(path, "a", encoding="utf-8") if path is not None else (stream or sys.stdout)

    def emit(self, event: dict) -> None:
        self._f.write(json.dumps(event, separators=(",", ":")) + "\n")
        self._f.flush()

    def close(self) -> None:
        if self._own:
            self._f.close()


class FanoutSink:
    def __init__(self, *sinks: EventSink):
        self.sinks = list(sinks)

    def emit(self, event: dict) -> None:
        for s in self.sinks:
            s.emit(event)

    def close(self) -> None:
        for s in self.sinks:
            s.close()
