"""The fleet store on SQLite and on a real PostgreSQL: each event once, gaps, queries, retention, and the
`fleet events` / `fleet gaps` commands reading it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from fleetctl.store import Gap, event_row, open_store

ROOT = Path(__file__).resolve().parents[1]


class _Run:
    def __init__(self, r: subprocess.CompletedProcess):
        self.exit_code, self.output = r.returncode, r.stdout + r.stderr
        self.stdout = r.stdout


def edgekit(*args: str) -> _Run:
    return _Run(
        subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    )


def _rows(device, seqs, t0=1000.0, kind="face_unknown"):
    return [event_row(device, {"type": kind, "seq": s, "time": t0 + s, "device_id": device}, time.time()) for s in seqs]


def test_each_event_is_stored_once_and_gaps_are_what_is_missing(store_url):
    store = open_store(store_url)
    try:
        assert store.add_events(_rows("door1", [1, 2, 3, 6, 7, 10])) == 6
        assert store.add_events(_rows("door1", [3, 6, 11])) == 1  # a redelivery: only 11 is new
        assert store.add_events(_rows("shelf1", [1, 2])) == 2
        assert store.counts() == {"events": 9, "distinct": 9, "devices": 2}
        assert store.gaps() == [Gap("door1", 4, 5), Gap("door1", 8, 9)]
        assert store.add_events(_rows("door1", [4, 5])) == 2  # late arrivals (another worker) close the gap
        assert store.gaps("door1") == [Gap("door1", 8, 9)] and store.gaps("shelf1") == []
    finally:
        store.close()


def test_events_query_filters_and_orders_newest_first(store_url):
    store = open_store(store_url)
    try:
        store.add_events(
            _rows("door1", range(1, 51), t0=1000.0) + _rows("shelf1", range(1, 21), 1010.0, "count_changed")
        )
        newest = store.events(limit=3)
        assert [(e["device_id"], e["seq"]) for e in newest] == [("door1", 50), ("door1", 49), ("door1", 48)]
        assert {e["type"] for e in store.events(kind="count_changed", limit=100)} == {"count_changed"}
        assert len(store.events(device="shelf1", limit=100)) == 20
        assert [e["seq"] for e in store.events(device="door1", since=1045.0, limit=100)] == [50, 49, 48, 47, 46, 45]
    finally:
        store.close()


def test_retention_deletes_what_is_older_than_the_limit(store_url):
    store = open_store(store_url)
    try:
        old = [("door1", s, "x", 1.0, time.time() - 7200, json.dumps({"seq": s}), "") for s in (1, 2)]
        store.add_events(old + _rows("door1", [3]))
        store.add_telemetry([("door1", time.time() - 7200, "{}"), ("door1", time.time(), '{"fps": 9}')])
        assert store.prune(3600) == 2
        assert [e["seq"] for e in store.events(limit=10)] == [3]
        assert store.devices()[0]["telemetry"] == {"fps": 9}
    finally:
        store.close()


def _epoch_rows(device, epoch, seqs):
    return [event_row(device, {"seq": s, "epoch": epoch, "device_id": device}, time.time()) for s in seqs]


def test_a_wiped_outbox_starts_a_new_epoch_whose_events_are_kept_with_their_own_gaps(store_url):
    store = open_store(store_url)
    try:
        assert store.add_events(_epoch_rows("door1", "a1", [1, 2, 3, 4])) == 4
        assert store.add_events(_epoch_rows("door1", "b2", [1, 2, 5])) == 3  # seq 1 again, under the new file's epoch
        assert store.add_events(_epoch_rows("door1", "b2", [2])) == 0  # a redelivery still is one
        assert store.counts() == {"events": 7, "distinct": 7, "devices": 1}
        assert store.gaps() == [Gap("door1", 3, 4, "b2")]  # no gap from a1's 4 down to b2's 1
    finally:
        store.close()


OLD_EVENTS = (  # the events table as stores from before epochs made it
    "CREATE TABLE events (device_id {t} NOT NULL, seq {i} NOT NULL, type {t} NOT NULL, time {r} NOT NULL, "
    "received {r} NOT NULL, body {j} NOT NULL, PRIMARY KEY (device_id, seq))"
)


def test_a_store_from_before_epochs_keeps_its_events_and_takes_the_new_key(store_url, tmp_path):
    if store_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(store_url[len("sqlite:///") :]) as db:
            db.execute(OLD_EVENTS.format(t="TEXT", i="INTEGER", r="REAL", j="TEXT") + " WITHOUT ROWID")
            db.execute("INSERT INTO events VALUES ('door1', 1, 'x', 1.0, 1.0, '{\"seq\":1}')")
            db.execute("INSERT INTO events VALUES ('door1', 2, 'x', 2.0, 2.0, '{\"seq\":2}')")
    else:
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as db:
            db.execute(OLD_EVENTS.format(t="text", i="bigint", r="double precision", j="jsonb"))
            db.execute(
                "INSERT INTO events VALUES ('door1', 1, 'x', 1.0, 1.0, '{\"seq\":1}'), "
                "('door1', 2, 'x', 2.0, 2.0, '{\"seq\":2}')"
            )
    store = open_store(store_url)
    try:
        assert [e["seq"] for e in store.events(limit=10)] == [2, 1]  # nothing lost in the migration
        assert store.add_events(_epoch_rows("door1", "", [2])) == 0  # an old event redelivered: still a repeat
        assert store.add_events(_epoch_rows("door1", "c3", [1, 2])) == 2  # a device's new outbox: kept
        assert store.counts() == {"events": 4, "distinct": 4, "devices": 1} and store.gaps() == []
        assert store.events(since=1e9, limit=1)  # the time index still serves queries
    finally:
        store.close()
    store = open_store(store_url)  # opening it again migrates nothing twice
    assert store.counts()["events"] == 4
    store.close()


def test_event_rows_refuse_messages_without_a_sequence_number():
    assert event_row("d", {"type": "x"}, 1.0) is None
    assert event_row("d", {"seq": "7"}, 1.0) is None and event_row("d", {"seq": True}, 1.0) is None
    assert event_row("d", {"seq": 7}, 5.0)[3] == 5.0  # no time: the time it was received


def test_fleet_events_and_gaps_commands(store_url):
    store = open_store(store_url)
    store.add_events(
        _rows("door1", [1, 2, 5], t0=time.time() - 100) + _rows("shelf1", [1], time.time(), "count_changed")
    )
    store.close()
    r = edgekit(*["fleet", "events", "--db", store_url, "--type", "count_changed", "--since", "1h"])
    assert r.exit_code == 0, r.output
    assert [json.loads(line)["device_id"] for line in r.stdout.splitlines()] == ["shelf1"]
    r = edgekit(*["fleet", "events", "--db", store_url, "--device", "door1", "--limit", "2"])
    assert [json.loads(line)["seq"] for line in r.stdout.splitlines()] == [5, 2]
    r = edgekit(*["fleet", "gaps", "--db", store_url, "--json"])
    assert [json.loads(line) for line in r.stdout.splitlines()] == [
        {"device": "door1", "epoch": "", "first": 3, "last": 4, "missing": 2}
    ]


def test_bad_store_urls_and_times_are_one_clear_line(tmp_path):
    r = edgekit(*["fleet", "events", "--db", "mysql://x/y"])
    assert r.exit_code != 0 and "not a store this knows" in r.output and "Traceback" not in r.output
    r = edgekit(*["fleet", "events", "--db", str(tmp_path / "f.db"), "--since", "yesterday"])
    assert r.exit_code != 0 and "--since 'yesterday': not a time" in r.output
    r = edgekit(*["fleet", "gaps", "--db", "postgresql://nobody@127.0.0.1:1/none"])
    assert r.exit_code != 0 and "cannot use the PostgreSQL store" in r.output and "Traceback" not in r.output


def test_an_event_the_database_refuses_is_skipped_and_the_rest_of_its_batch_stored(store_url):
    store = open_store(store_url)
    try:
        bad = event_row("door1", {"seq": 2}, 1.0, raw='{"seq": 2, "note": "\\u0000"}')  # jsonb refuses NUL
        refused = store_url.startswith("postgresql")  # SQLite keeps it as text
        assert store.add_events(_rows("door1", [1, 3]) + [bad]) == (2 if refused else 3)
        assert {e["seq"] for e in store.events(limit=10)} >= {1, 3}
    finally:
        store.close()
