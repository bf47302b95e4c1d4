"""The fleet store on PostgreSQL (psycopg 3). A batch of events is one transaction: COPY into a session-private staging
table, then `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, so a redelivered event is skipped by the primary key inside
the database. COPY because psycopg formats its rows in C; binding the batch as arrays (the first design) escaped every
quote of every body with a regular expression in Python, most of the worker's time."""

from __future__ import annotations

import logging

import psycopg

from edge.errors import EdgekitError
from fleetctl.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  device_id text NOT NULL, seq bigint NOT NULL, type text NOT NULL, time double precision NOT NULL,
  received double precision NOT NULL, body jsonb NOT NULL, epoch text NOT NULL DEFAULT '',
  PRIMARY KEY (device_id, epoch, seq)
);
-- a store from before epochs: the column, then the key (device_id, seq) becomes (device_id, epoch, seq)
ALTER TABLE events ADD COLUMN IF NOT EXISTS epoch text NOT NULL DEFAULT '';
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint c
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                 WHERE c.conrelid = 'events'::regclass AND c.contype = 'p' AND a.attname = 'epoch') THEN
    ALTER TABLE events DROP CONSTRAINT events_pkey, ADD PRIMARY KEY (device_id, epoch, seq);
  END IF;
END $$;
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE INDEX IF NOT EXISTS events_device_time ON events (device_id, time);
CREATE INDEX IF NOT EXISTS events_type_time ON events (type, time);
CREATE TABLE IF NOT EXISTS telemetry (device_id text NOT NULL, received double precision NOT NULL, body jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS telemetry_device ON telemetry (device_id, received);
CREATE TABLE IF NOT EXISTS devices (device_id text PRIMARY KEY, status jsonb, status_at double precision,
  telemetry jsonb, telemetry_at double precision);
ALTER TABLE devices ADD COLUMN IF NOT EXISTS state jsonb;
ALTER TABLE devices ADD COLUMN IF NOT EXISTS state_at double precision;
CREATE TABLE IF NOT EXISTS pushes (push_id text NOT NULL, device_id text NOT NULL, kind text NOT NULL,
  name text NOT NULL, done bigint NOT NULL, total bigint NOT NULL, outcome text NOT NULL, message text NOT NULL,
  started double precision NOT NULL, updated double precision NOT NULL, PRIMARY KEY (push_id, device_id));
"""

log = logging.getLogger("edgekit.ingest")

# the staging table: this connection's alone, emptied by every commit
STAGING = "CREATE TEMP TABLE IF NOT EXISTS events_in (LIKE events) ON COMMIT DELETE ROWS"
COPY_EVENTS = "COPY events_in (device_id, seq, type, time, received, body, epoch) FROM STDIN"
MERGE_EVENTS = "INSERT INTO events SELECT * FROM events_in ON CONFLICT DO NOTHING"

INSERT_EVENTS = """
INSERT INTO events (device_id, seq, type, time, received, body, epoch)
SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::float8[], %s::float8[], %s::jsonb[], %s::text[])
ON CONFLICT DO NOTHING
"""


class PostgresStore(Store):
    P = "%s"

    def __init__(self, url: str):
        try:
            self.db = psycopg.connect(url, autocommit=True)
            with self.db.transaction():
                self.db.execute("SELECT pg_advisory_xact_lock(16016)")  # two workers creating the schema at once
                self.db.execute(SCHEMA)
            self.db.execute(STAGING)
        except psycopg.Error as e:
            safe = url.split("@")[-1]  # never echo a password
            raise EdgekitError(
                f"--db postgresql://...@{safe}: cannot use the PostgreSQL store ({str(e).strip()[:200]})",
                "check the server is running and the user may create tables in that database",
            ) from None

    def add_events(self, rows):
        if not rows:
            return 0
        try:
            with self.db.transaction(), self.db.cursor() as cur:
                with cur.copy(COPY_EVENTS) as copy:
                    for row in rows:
                        copy.write_row(row)
                return cur.execute(MERGE_EVENTS).rowcount
        except psycopg.DataError:  # one body jsonb refuses (a \u0000 escape): store the rest, skip that one
            new = 0
            for row in rows:
                try:
                    with self.db.transaction():
                        new += self.db.execute(INSERT_EVENTS, [[v] for v in row]).rowcount
                except psycopg.DataError as e:
                    log.warning("store: event %s/%s refused by PostgreSQL (%s), skipped", row[0], row[1], str(e)[:120])
            return new

    def add_telemetry(self, rows):
        if not rows:
            return
        devices, at, bodies = (list(c) for c in zip(*rows))
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO telemetry SELECT * FROM unnest(%s::text[], %s::float8[], %s::jsonb[])",
                (devices, at, bodies),
            )
            latest = {d: (d, b, a) for d, a, b in rows}  # one row per device: ON CONFLICT may touch a row once
            d2, b2, a2 = (list(c) for c in zip(*latest.values()))
            self.db.execute(
                "INSERT INTO devices (device_id, telemetry, telemetry_at) "
                "SELECT * FROM unnest(%s::text[], %s::jsonb[], %s::float8[]) ON CONFLICT (device_id) DO UPDATE "
                "SET telemetry = excluded.telemetry, telemetry_at = excluded.telemetry_at",
                (d2, b2, a2),
            )

    def set_status(self, device_id, body, at):
        self.db.execute(
            "INSERT INTO devices (device_id, status, status_at) VALUES (%s, %s::jsonb, %s) ON CONFLICT "
            "(device_id) DO UPDATE SET status = excluded.status, status_at = excluded.status_at",
            (device_id, body, at),
        )

    def set_state(self, device_id, body, at):
        self.db.execute(
            "INSERT INTO devices (device_id, state, state_at) VALUES (%s, %s::jsonb, %s) ON CONFLICT "
            "(device_id) DO UPDATE SET state = excluded.state, state_at = excluded.state_at",
            (device_id, body, at),
        )

    def execute(self, sql, args=()):
        cur = self.db.execute(sql, args)
        return cur.fetchall() if cur.description else []

    def execute_count(self, sql, args=()):
        return self.db.execute(sql, args).rowcount

    def close(self):
        self.db.close()
