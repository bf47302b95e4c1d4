"""The fleet event store: every device's events, telemetry, and the latest status per device. Each event is stored
once: the primary key is device id + outbox epoch + sequence number and inserts skip what is already there, so a
redelivery after a reconnect is harmless, while a wiped outbox (seq 1 again, under a new epoch) is not taken for one.
`open_store(url)`: `sqlite:///path.db` (or a bare path; the embedded default) or `postgresql://...`.

Gaps are derived from what is stored (a window over each device's sequence numbers, per epoch), so an event that
arrives late, through another ingest worker, closes its gap by itself; what stays is what the device's outbox really
dropped."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from edge.errors import EdgekitError

# (device_id, seq, type, time, received, body, epoch): epoch last, where stores from before it added the column
EventRow = tuple[str, int, str, float, float, str, str]

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  device_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, time REAL NOT NULL, received REAL NOT NULL,
  body TEXT NOT NULL, epoch TEXT NOT NULL DEFAULT '', PRIMARY KEY (device_id, epoch, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE INDEX IF NOT EXISTS events_device_time ON events (device_id, time);
CREATE INDEX IF NOT EXISTS events_type_time ON events (type, time);  -- `--type`, the fleet page's alerts
CREATE TABLE IF NOT EXISTS telemetry (device_id TEXT NOT NULL, received REAL NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS telemetry_device ON telemetry (device_id, received);
CREATE TABLE IF NOT EXISTS devices (device_id TEXT PRIMARY KEY, status TEXT, status_at REAL, telemetry TEXT,
  telemetry_at REAL);
CREATE TABLE IF NOT EXISTS pushes (push_id TEXT NOT NULL, device_id TEXT NOT NULL, kind TEXT NOT NULL,
  name TEXT NOT NULL, done INTEGER NOT NULL, total INTEGER NOT NULL, outcome TEXT NOT NULL, message TEXT NOT NULL,
  started REAL NOT NULL, updated REAL NOT NULL, PRIMARY KEY (push_id, device_id));
"""

# events from before epochs, and from devices that send none, share the epoch ''
GAPS_SQL = """
SELECT device_id, seq + 1, next - 1, epoch FROM (
  SELECT device_id, epoch, seq, LEAD(seq) OVER (PARTITION BY device_id, epoch ORDER BY seq) AS next FROM events {where}
) AS s WHERE next > seq + 1 ORDER BY device_id, epoch, seq
"""


@dataclass
class Gap:
    device_id: str
    first: int  # the first missing sequence number
    last: int  # the last missing one
    epoch: str = ""  # the device's outbox file these numbers belong to

    @property
    def missing(self) -> int:
        return self.last - self.first + 1


def event_row(device_id: str, body: dict, received: float, raw: str | None = None) -> EventRow | None:
    """The stored row for one event message (`raw`: its JSON text as it came, stored as is); None when it carries no
    usable sequence number."""
    seq = body.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return None
    when = body.get("time")
    when = float(when) if isinstance(when, (int, float)) and not isinstance(when, bool) else received
    return (
        device_id,
        seq,
        str(body.get("type", "event"))[:64],
        when,
        received,
        raw or json.dumps(body, separators=(",", ":")),
        str(body.get("epoch", ""))[:64],
    )


class Store:
    """What ingest and the queries use; one subclass per database (placeholders and upserts differ)."""

    P = "?"  # the driver's placeholder

    def add_events(self, rows: list[EventRow]) -> int:
        """Insert, skipping (device_id, epoch, seq) already stored; returns how many were new."""
        raise NotImplementedError

    def add_telemetry(self, rows: list[tuple[str, float, str]]) -> None:
        raise NotImplementedError

    def set_status(self, device_id: str, body: str, at: float) -> None:
        raise NotImplementedError

    def set_state(self, device_id: str, body: str, at: float) -> None:
        """The device's retained `state` (its models, gallery, the outcome of the last model or gallery push)."""
        raise NotImplementedError

    def execute(self, sql: str, args: tuple = ()) -> list[tuple]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # ---- queries (the same SQL on both) ----
    def events(
        self, device: str | None = None, kind: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[dict]:
        """The newest events first (served by the time indexes)."""
        where, args = self._filters(device, kind, since)
        rows = self.execute(f"SELECT body FROM events {where} ORDER BY time DESC LIMIT {self.P}", (*args, int(limit)))
        return [json.loads(b) if isinstance(b, str) else b for (b,) in rows]

    def _filters(self, device, kind, since) -> tuple[str, tuple]:
        clauses, args = [], []
        for column, value in (("device_id", device), ("type", kind)):
            if value is not None:
                clauses.append(f"{column} = {self.P}")
                args.append(value)
        if since is not None:
            clauses.append(f"time >= {self.P}")
            args.append(float(since))
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)

    def gaps(self, device: str | None = None) -> list[Gap]:
        where, args = ("WHERE device_id = " + self.P, (device,)) if device else ("", ())
        return [Gap(d, int(a), int(b), e) for d, a, b, e in self.execute(GAPS_SQL.format(where=where), args)]

    def counts(self) -> dict:
        """Stored events, distinct (device, epoch, seq) keys (equal unless the key were broken) and devices."""
        n, distinct, devices = self.execute(
            "SELECT COUNT(*), COUNT(DISTINCT device_id || ':' || epoch || ':' || CAST(seq AS TEXT)),"
            " COUNT(DISTINCT device_id)"
            " FROM events"
        )[0]
        return {"events": int(n), "distinct": int(distinct), "devices": int(devices)}

    def devices(self) -> list[dict]:
        rows = self.execute(
            "SELECT device_id, status, status_at, telemetry, telemetry_at, state, state_at FROM devices "
            "ORDER BY device_id"
        )
        return [
            {
                "device": d,
                "status": _json(s),
                "status_at": sa,
                "telemetry": _json(t),
                "telemetry_at": ta,
                "state": _json(st),
                "state_at": sta,
            }
            for d, s, sa, t, ta, st, sta in rows
        ]

    # ---- pushes: `fleet push-model/push-gallery --db` record each device's progress for `fleet ui` ----
    def record_push(
        self, push_id: str, device: str, kind: str, name: str, done: int, total: int, outcome: str, message: str = ""
    ) -> None:
        """outcome: sending / installed / refused / no answer."""
        now = time.time()
        p = self.P
        self.execute_count(
            f"INSERT INTO pushes VALUES ({', '.join([p] * 10)}) ON CONFLICT (push_id, device_id) DO UPDATE SET "
            "done = excluded.done, outcome = excluded.outcome, message = excluded.message, updated = excluded.updated",
            (push_id, device, kind, name, int(done), int(total), outcome, message[:500], now, now),
        )

    def pushes(self, limit: int = 50) -> list[dict]:
        rows = self.execute(
            "SELECT push_id, device_id, kind, name, done, total, outcome, message, started, updated FROM pushes "
            f"ORDER BY started DESC, device_id LIMIT {self.P}",
            (int(limit),),
        )
        keys = ("push_id", "device", "kind", "name", "done", "total", "outcome", "message", "started", "updated")
        return [dict(zip(keys, r)) for r in rows]

    def prune(self, keep_s: float, now: float | None = None) -> int:
        """Retention: events and telemetry received more than keep_s ago go."""
        cut = (now or time.time()) - keep_s
        n = self.execute_count(f"DELETE FROM events WHERE received < {self.P}", (cut,))
        self.execute_count(f"DELETE FROM telemetry WHERE received < {self.P}", (cut,))
        return n

    def execute_count(self, sql: str, args: tuple = ()) -> int:
        raise NotImplementedError


def _json(v):
    if v is None or not isinstance(v, str):
        return v
    try:
        return json.loads(v)
    except ValueError:
        return v


class SqliteStore(Store):
    def __init__(self, path: str):
        p = Path(path).expanduser()
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")  # readers (fleet events) never block the ingest writer
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed batch survives a process kill
            self.db.executescript(SQLITE_SCHEMA)
            if "epoch" not in {r[1] for r in self.db.execute("PRAGMA table_info(events)")}:
                self._add_epochs()
            columns = {r[1] for r in self.db.execute("PRAGMA table_info(devices)")}
            for column, kind in (("state", "TEXT"), ("state_at", "REAL")):  # stores from before `state` was kept
                if column not in columns:
                    self.db.execute(f"ALTER TABLE devices ADD COLUMN {column} {kind}")
        except (OSError, sqlite3.Error) as e:
            raise EdgekitError(
                f"--db {path}: cannot open the SQLite store ({e})", "check the path and its permissions"
            ) from None

    def _add_epochs(self) -> None:
        """A store from before epochs: its key (device_id, seq) becomes (device_id, epoch, seq), its events epoch ''.
        SQLite cannot change a primary key in place, so the table is copied once, in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("ALTER TABLE events RENAME TO events_before_epochs")
            self.db.execute(SQLITE_SCHEMA.split(";")[0])  # the events table alone, as it is now
            self.db.execute(
                "INSERT INTO events SELECT device_id, seq, type, time, received, body, '' FROM events_before_epochs"
            )
            self.db.execute("DROP TABLE events_before_epochs")
        self.db.executescript(SQLITE_SCHEMA)  # its indexes went with the old table

    def add_events(self, rows):
        with self.db:
            before = self.db.total_changes
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", rows)
            return self.db.total_changes - before

    def add_telemetry(self, rows):
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO telemetry VALUES (?, ?, ?)", rows)
            for device, at, body in rows:
                self.db.execute(
                    "INSERT INTO devices (device_id, telemetry, telemetry_at) VALUES (?, ?, ?) ON CONFLICT "
                    "(device_id) DO UPDATE SET telemetry = excluded.telemetry, telemetry_at = excluded.telemetry_at",
                    (device, body, at),
                )

    def set_status(self, device_id, body, at):
        self.db.execute(
            "INSERT INTO devices (device_id, status, status_at) VALUES (?, ?, ?) ON CONFLICT (device_id) "
            "DO UPDATE SET status = excluded.status, status_at = excluded.status_at",
            (device_id, body, at),
        )

    def set_state(self, device_id, body, at):
        self.db.execute(
            "INSERT INTO devices (device_id, state, state_at) VALUES (?, ?, ?) ON CONFLICT (device_id) "
            "DO UPDATE SET state = excluded.state, state_at = excluded.state_at",
            (device_id, body, at),
        )

    def execute(self, sql, args=()):
        return self.db.execute(sql, args).fetchall()

    def execute_count(self, sql, args=()):
        return self.db.execute(sql, args).rowcount

    def close(self):
        self.db.close()


def open_store(url: str) -> Store:
    if url.startswith(("postgresql://", "postgres://")):
        from fleetctl.store_postgres import PostgresStore

        return PostgresStore(url)
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///") :])
    if "://" in url:
        raise EdgekitError(
            f"--db {url.split('://')[0]}://...: not a store this knows",
            "use sqlite:///PATH (or a plain path) or postgresql://USER@HOST:PORT/DB",
        )
    return SqliteStore(url)
