"""Where an event's JSON goes: JSON lines to stdout or a file here; the MQTT outbox (edge.fleet.link) is another."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Protocol

from edge.private import open_private


class EventSink(Protocol):
    def emit(self, event: dict) -> None: ...

    def close(self) -> None: ...


class JsonLinesSink:
    """One JSON object per line, flushed per event so a crash loses nothing already emitted."""

    def __init__(self, path: str | Path | None = None, stream: IO[str] | None = None):
        self._own = path is not None  # a file is made 0600 in a 0700 folder (edge.private)
        self._f = (open_private(Path(path).expanduser(), "a", encoding="utf-8") if path is not None
                   else (stream or sys.stdout))

    def emit(self, event: dict) -> None:
        self._f.write(json.dumps(event, separators=(",", ":")) + "\n")
        self._f.flush()

    def close(self) -> None:
        if self._own:
            self._f.close()
