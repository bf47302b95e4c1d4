"""The last outcome of each model and gallery update, in a small JSON file beside the outbox, so the retained state a
device publishes after a restart still says what its last update did (the fleet page shows why a door said no). The
link records model updates and the doorbell its gallery's, each under its own key, through one lock per file."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from edge.private import write_private

log = logging.getLogger("edgekit.fleet")
_locks: dict[Path, threading.Lock] = {}
_locks_lock = threading.Lock()


def outcomes_path_for(outbox_path: str | Path) -> Path:
    """`outbox.db` -> `outbox.outcomes.json` in the same folder."""
    p = Path(outbox_path).expanduser()
    return p.with_name(p.stem + ".outcomes.json")


class Outcomes:
    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        with _locks_lock:
            self._lock = _locks.setdefault(self.path, threading.Lock())

    def get(self, key: str):
        with self._lock:
            return self._read().get(key)

    def put(self, key: str, value) -> None:
        """Best effort: an update's outcome is worth keeping, never worth failing the update for."""
        with self._lock:
            data = {**self._read(), key: value}
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            try:
                os.replace(write_private(tmp, json.dumps(data).encode()), self.path)  # never a torn file
            except OSError as e:
                log.warning("update outcomes %s: not saved (%s); the retained state forgets them at a restart", tmp, e)

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:  # a torn or foreign file: start afresh rather than refuse to run
            log.warning("update outcomes %s: unreadable (%s), starting afresh", self.path, e)
            return {}
        return data if isinstance(data, dict) else {}
