"""Store and forward: every message is written to SQLite (WAL) before it is sent and deleted only when the broker
acknowledges it. Sequence numbers come from SQLite's AUTOINCREMENT counter (sqlite_sequence), which never goes back,
even after deletes and restarts, so the row id is the per-device sequence number a consumer uses to spot gaps and
duplicates. A new file (a wiped or re-flashed device) starts at 1 again, so each file also draws a random `epoch`
when it is created, which every event carries: a consumer tells events apart by (device, epoch, seq). Bounded by count
and age: past the bound the oldest rows go, and the drops are counted (telemetry)."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from edge.errors import EdgekitError
from edge.private import private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox(created);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
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
        try:
            private_file(path)  # 0600 in a 0700 folder before SQLite opens it (its -wal/-shm take the same mode)
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed row survives a process kill
            self.db.executescript(SCHEMA)
            (self._count,) = self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
            # drawn once per file; an outbox from before epochs gets one now (its seq goes on, so nothing collides)
            self.db.execute("INSERT INTO meta VALUES ('epoch', ?) ON CONFLICT DO NOTHING", (secrets.token_hex(8),))
            (self.epoch,) = self.db.execute("SELECT value FROM meta WHERE name = 'epoch'").fetchone()
        except (OSError, sqlite3.Error) as e:
            raise EdgekitError(
                f"mqtt.outbox.path {path}: cannot open the outbox ({e})", "point mqtt.outbox.path at a writable file"
            ) from None
        self._last_seq = row[0] if row else 0
        self._next_age_check = 0.0
        self.lock = threading.Lock()

    def put(self, topic: str, build, qos: int = 1, retain: bool = False) -> int:
        """Store one message; `build(seq) -> bytes` makes the payload once the sequence number is known."""
        with self.lock:
            seq = self._last_seq + 1
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute(
                    "INSERT INTO outbox(seq, topic, payload, qos, retain, created) VALUES (?, ?, ?, ?, ?, ?)",
                    (seq, topic, build(seq), qos, int(retain), time.time()),
                )
                self._count += 1
                self._enforce_bounds()
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                (self._count,) = self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()
                raise
            self._last_seq = seq
        return seq

    def _enforce_bounds(self) -> None:
        dropped = 0
        now = time.time()
        if now >= self._next_age_check:  # the age bound is coarse: checked at most once a second
            self._next_age_check = now + 1.0
            dropped += self.db.execute("DELETE FROM outbox WHERE created < ?", (now - self.cfg.max_age_s,)).rowcount
        if self._count - dropped > self.cfg.max_messages:
            dropped += self.db.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
                (self._count - dropped - self.cfg.max_messages,),
            ).rowcount
        if dropped:
            self._count -= dropped
            self.db.execute(
                "INSERT INTO counters VALUES ('dropped', ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
                (dropped, dropped),
            )

    def pending(self, after: int = 0, limit: int = 500) -> list[Message]:
        with self.lock:
            rows = self.db.execute(
                "SELECT seq, topic, payload, qos, retain, created FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [Message(s, t, bytes(p), q, bool(r), c) for s, t, p, q, r, c in rows]

    def ack(self, seqs: list[int]) -> None:
        if not seqs:
            return
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            n = 0
            for s in seqs:
                n += self.db.execute("DELETE FROM outbox WHERE seq = ?", (s,)).rowcount
            self.db.execute("COMMIT")
            self._count -= n

    @property
    def depth(self) -> int:
        return self._count

    def stats(self) -> dict:
        with self.lock:
            row = self.db.execute("SELECT created FROM outbox ORDER BY seq LIMIT 1").fetchone()
            dropped = self.db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
            count = self._count
        return {
            "outbox_depth": count,
            "outbox_oldest_age_s": round(time.time() - row[0], 1) if row else 0.0,
            "messages_dropped": dropped[0] if dropped else 0,
        }

    def close(self) -> None:
        with self.lock:
            self.db.close()
