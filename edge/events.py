"""Events leave the device loop through a sink. An event is a JSON-ready dict with at least `type` and `time`
(epoch seconds). Sinks: JSON lines to stdout or a file here; the MQTT sink (edge/io) adds id and sequence number."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Protocol


class EventSink(Protocol):
    def emit(self, event: dict) -> None: ...

    def close(self) -> None: ...


def make_event(type_: str, **fields) -> dict:
    return {"type": type_, "time": fields.pop("time", time.time()), **fields}


class RotatingFile:
    """An append-only text file that rotates once it would pass max_bytes: FILE -> FILE.1 -> ... -> FILE.<keep>, the
    oldest dropped (keep 0: FILE starts afresh). Only a regular file rotates (never /dev/stdout or a FIFO)."""

    def __init__(self, path: str | Path, max_bytes: int, keep: int):
        self.path, self.max_bytes, self.keep = Path(path), max_bytes, keep
        self.rotates = not self.path.exists() or self.path.is_file()
        self._f = open(self.path, "a", encoding="utf-8")
        self._size = self.path.stat().st_size if self.rotates else 0

    def write(self, text: str) -> None:
        n = len(text.encode("utf-8"))
        if self.rotates and self._size and self._size + n > self.max_bytes:
            self._rotate()
        self._f.write(text)
        self._f.flush()
        self._size += n

    def _rotate(self) -> None:
        self._f.close()
        for i in range(self.keep - 1, 0, -1):
            older = Path(f"{self.path}.{i}")
            if older.exists():
                os.replace(older, f"{self.path}.{i + 1}")
        if self.keep:
            os.replace(self.path, f"{self.path}.1")
        else:
            self.path.unlink(missing_ok=True)
        self._f, self._size = open(self.path, "a", encoding="utf-8"), 0

    def close(self) -> None:
        self._f.close()


class JsonLinesSink:
    """One JSON object per line, flushed per event so a crash loses nothing already emitted. A file rotates by size
    (max_bytes, keep files) so a device that runs for months does not fill its disk."""

    def __init__(self, path: str | Path | None = None, stream: IO[str] | None = None, max_bytes: int = 50_000_000,
                 keep: int = 5):
        self._own = path is not None
        self.name = f"events.file {path}" if path is not None else "stdout"
        self._f = RotatingFile(path, max_bytes, keep) if path is not None else (stream or sys.stdout)

    def emit(self, event: dict) -> None:
        self._f.write(json.dumps(event, separators=(",", ":")) + "\n")
        if not self._own:
            self._f.flush()

    def close(self) -> None:
        if self._own:
            self._f.close()


class FanoutSink:
    """Every event to every sink. A sink that fails (disk full, its folder gone, a closed pipe) never stops the loop
    or the other sinks: they hear one `sink_error` event naming it, again at most once a minute while it lasts."""

    REPEAT_S = 60.0

    def __init__(self, *sinks: EventSink):
        self.sinks = list(sinks)
        self._failing: dict[int, tuple[str, float, int]] = {}  # sink index -> (error, last reported, events lost)

    def emit(self, event: dict) -> None:
        failed = []
        for i, s in enumerate(self.sinks):
            try:
                s.emit(event)
            except Exception as e:  # noqa: BLE001 - whatever a sink raises, the loop goes on
                failed.append((i, f"{e.__class__.__name__}: {e}"[:300]))
            else:
                self._failing.pop(i, None)
        for i, error in failed:
            self._report(i, error)

    def _report(self, i: int, error: str) -> None:
        last_error, last_time, lost = self._failing.get(i, ("", float("-inf"), 0))
        now = time.monotonic()
        if error == last_error and now - last_time < self.REPEAT_S:
            self._failing[i] = (last_error, last_time, lost + 1)
            return
        self._failing[i] = (error, now, 0)
        name = getattr(self.sinks[i], "name", type(self.sinks[i]).__name__)
        report = make_event("sink_error", sink=name, error=error, events_lost=lost + 1)
        for j, s in enumerate(self.sinks):
            if j != i and j not in self._failing:
                try:
                    s.emit(report)
                except Exception:  # noqa: BLE001 - reported on its own next emit
                    pass

    def close(self) -> None:
        for s in self.sinks:
            try:
                s.close()
            except Exception:  # noqa: BLE001 - a sink that cannot close (disk full) must not block the others
                pass
