"""The nonces of signed commands already run, in their own small SQLite file (beside the outbox, not inside it): a
restart does not reopen the replay window, and store-and-forward holds no security state."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from edge.errors import EdgekitError
from edge.private import private_file


def nonces_path_for(outbox_path: str | Path) -> Path:
    """`outbox.db` -> `outbox.nonces.db` in the same folder."""
    p = Path(outbox_path).expanduser()
    return p.with_name(p.stem + ".nonces.db")


class NonceStore:
    def __init__(self, path: str | Path):
        path = Path(path).expanduser()
        try:
            private_file(path)  # 0600 in a 0700 folder before SQLite opens it
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, ts REAL NOT NULL)")
        except (OSError, sqlite3.Error) as e:
            raise EdgekitError(
                f"nonce store {path}: cannot open it ({e})",
                "point mqtt.outbox.path at a writable folder (the nonce file sits beside it)",
            ) from None
        self.path, self._lock = path, threading.Lock()

    def remember(self, nonce: str, ts: float, forget_before: float) -> bool:
        """Record a signed command's nonce; False if it was seen already (a replay, even across a restart)."""
        with self._lock:
            self.db.execute("DELETE FROM nonces WHERE ts < ?", (forget_before,))
            return self.db.execute("INSERT OR IGNORE INTO nonces VALUES (?, ?)", (nonce, ts)).rowcount == 1

    def close(self) -> None:
        with self._lock:
            self.db.close()
