"""Store and forward: every message is written to SQLite (WAL) before it is sent and deleted only when the broker
acknowledges it. SQLite's AUTOINCREMENT never reuses a row id, even after deletes and restarts, so the row id is the
per-device sequence number a consumer uses to spot gaps and duplicates."""
from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class OutboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = "~/.local/share/edgekit/outbox.db"
    max_messages: int = Field(100_000, ge=1)
    max_age_s: float = Field(7 * 86400, gt=0)


@dataclass
class Message:
    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    created: float


class Outbox:
    def __init__(self, cfg: OutboxConfig):
        self.cfg = cfg
        path = Path(cfg.path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed row survives a process kill
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()

    def put(self, topic: str, build, qos: int = 1, retain: bool = False) -> int:
        """Store one message; `build(seq) -> bytes` makes the payload once the sequence number is known."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                cur = self.db.execute("INSERT INTO outbox(topic, payload, qos, retain, created) VALUES (?, x'', ?, ?, ?)",
                                      (topic, qos, int(retain), time.time()))
                seq = cur.lastrowid
                self.db.execute("UPDATE outbox SET payload = ? WHERE seq = ?", (build(seq), seq))
                self._enforce_bounds()
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return seq

    def _enforce_bounds(self) -> None:
        cutoff = time.time() - self.cfg.max_age_s
        dropped = self.db.execute("DELETE FROM outbox WHERE created < ?", (cutoff,)).rowcount
        (count,) = self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        if count > self.cfg.max_messages:
            dropped += self.db.execute("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
                                       (count - self.cfg.max_messages,)).rowcount
        if dropped:
            self.db.execute("INSERT INTO counters VALUES ('dropped', ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
                            (dropped, dropped))

    def pending(self, after: int = 0, limit: int = 500) -> list[Message]:
        with self.lock:
            rows = self.db.execute("SELECT seq, topic, payload, qos, retain, created FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                                   (after, limit)).fetchall()
        return [Message(s, t, bytes(p), q, bool(r), c) for s, t, p, q, r, c in rows]

    def ack(self, seqs: list[int]) -> None:
        if not seqs:
            return
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
            self.db.execute("COMMIT")

    def stats(self) -> dict:
        with self.lock:
            count, oldest = self.db.execute("SELECT COUNT(*), MIN(created) FROM outbox").fetchone()
            row = self.db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        return {"outbox_depth": count, "outbox_oldest_age_s": round(time.time() - oldest, 1) if oldest else 0.0,
                "messages_dropped": row[0] if row else 0}

    def close(self) -> None:
        with self.lock:
            self.db.close()
