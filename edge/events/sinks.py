"""Where an event's JSON goes: JSON lines to stdout or a file here; the MQTT outbox (edge.fleet.link) is another."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, Protocol

from edge.private import open_private


class EventSink(Protocol):
    def emit(self, event: dict) -> None: ...

    def close(self) -> None: ...


class RotatingFile:
    """An append-only text file that rotates once it would pass max_bytes: FILE -> FILE.1 -> ... -> FILE.<keep>, the
    oldest dropped (keep 0: FILE starts afresh). Only a regular file rotates (never /dev/stdout or a FIFO)."""

    def __init__(self, path: str | Path, max_bytes: int, keep: int):
        self.path, self.max_bytes, self.keep = Path(path), max_bytes, keep
        self.rotates = not self.path.exists() or self.path.is_file()
        self._f = open_private(self.path, "a", encoding="utf-8")  # 0600 in a 0700 folder (edge.private)
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
        self._f, self._size = open_private(self.path, "a", encoding="utf-8"), 0

    def close(self) -> None:
        self._f.close()


class JsonLinesSink:
    """One JSON object per line, flushed per event so a crash loses nothing already emitted. A file rotates by size
    (max_bytes, keep files) so a device that runs for months does not fill its disk."""

    def __init__(
        self, path: str | Path | None = None, stream: IO[str] | None = None, max_bytes: int = 50_000_000, keep: int = 5
    ):
        self._own = path is not None
        self.name = f"events.file {path}" if path is not None else "stdout"
        if path is not None:
            path = Path(path).expanduser()
        self._f = RotatingFile(path, max_bytes, keep) if path is not None else (stream or sys.stdout)

    def emit(self, event: dict) -> None:
        self._f.write(json.dumps(event, separators=(",", ":")) + "\n")
        if not self._own:
            self._f.flush()

    def close(self) -> None:
        if self._own:
            self._f.close()
