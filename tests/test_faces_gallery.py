"""The SQLite gallery: several embeddings per identity, one transaction per write (a killed writer leaves whole
batches only), foreign files refused untouched, export/import all-or-nothing, one connection per Gallery shared by
threads and closed by close() or a with block."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from edge.errors import EdgekitError
from edge.faces.gallery import Gallery


def _unit(n, d=8, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_identities_keep_several_embeddings_per_model(tmp_path):
    g = Gallery(tmp_path / "g.db")
    assert g.add("ada", "faceres", _unit(3)) == 3
    g.add("bob", "faceres", _unit(1, seed=1)[0])
    g.add("ada", "facenet", _unit(2, d=4, seed=2))
    assert g.identities() == {"ada": 5, "bob": 1}
    assert g.identities("faceres") == {"ada": 3, "bob": 1}
    vectors, names = g.matrix("faceres")
    assert vectors.shape == (4, 8) and list(names) == ["ada", "ada", "ada", "bob"]
    assert np.array_equal(vectors[:3], _unit(3))
    assert g.remove("ada") == 5 and g.identities() == {"bob": 1}
    assert g.remove("nobody") == 0
    assert g.matrix("facenet")[0].shape == (0, 0)


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path):
    bad = tmp_path / "gallery.db"
    bad.write_bytes(b"this is a text file, not a database\n" * 50)
    before = _digest(bad)
    with pytest.raises(EdgekitError, match="gallery.db: not an edgekit gallery"):
        Gallery(bad)
    assert _digest(bad) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gallery.db"]  # no -wal/-shm left beside it


def test_another_programs_sqlite_database_is_refused_untouched(tmp_path):
    other = tmp_path / "app.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE notes(text)")
    con.execute("INSERT INTO notes VALUES ('keep me')")
    con.commit()
    con.close()
    before = _digest(other)
    with pytest.raises(EdgekitError, match="another program.*notes"):
        Gallery(other)
    assert _digest(other) == before


def test_a_folder_is_named(tmp_path):
    with pytest.raises(EdgekitError, match="is a folder"):
        Gallery(tmp_path)


def test_vectors_of_another_length_are_refused_and_nothing_is_written(tmp_path):
    g = Gallery(tmp_path / "g.db")
    g.add("ada", "faceres", _unit(2))
    with pytest.raises(EdgekitError, match="faceres embeddings of \\[4\\] values, the gallery holds 8"):
        g.add("bob", "faceres", _unit(2, d=4))
    with pytest.raises(EdgekitError, match="NaN"):
        g.add("bob", "faceres", np.full(8, np.nan, np.float32))
    with pytest.raises(EdgekitError, match="1-128 characters"):
        g.add("  ", "faceres", _unit(1))
    with pytest.raises(ValueError):
        g.add("bob", "faceres", [np.zeros(8, np.float32), "not a vector"])
    assert g.identities() == {"ada": 2}
    # another connection sees a consistent file (WAL)
    assert sqlite3.connect(tmp_path / "g.db").execute("PRAGMA integrity_check").fetchone()[0] == "ok"


WRITER = """
import sys, numpy as np
from edge.faces.gallery import Gallery
g = Gallery(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    g.add(f"person{i % 50}", "faceres", np.random.default_rng(i).normal(size=(7, 256)).astype(np.float32))
    i += 1
"""


def test_a_writer_killed_mid_write_leaves_only_whole_batches(tmp_path):
    """A real process adding 7-vector batches in a loop is SIGKILLed; the file must open, pass SQLite's integrity
    check, and hold whole batches only."""
    path = tmp_path / "g.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)
    finally:
        proc.kill()
        proc.wait()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    counts = Gallery(path).identities()
    total = sum(counts.values())
    assert total >= 7  # it did write
    assert all(n % 7 == 0 for n in counts.values()) and total % 7 == 0


def test_another_process_enrolling_changes_the_version(tmp_path):
    """The doorbell reloads its matcher when `edgekit faces enroll` (another connection) writes."""
    running = Gallery(tmp_path / "g.db")
    v0 = running.version
    Gallery(tmp_path / "g.db").add("ada", "faceres", _unit(1))
    assert running.version != v0
    v1 = running.version
    assert running.version == v1  # stable while nothing changes
    running.add("bob", "faceres", _unit(1, seed=5))
    assert running.version != v1


def test_export_import_round_trip_and_a_bad_export_adds_nothing(tmp_path):
    g = Gallery(tmp_path / "a.db")
    g.add("ada", "faceres", _unit(2))
    g.add("bob", "faceres", _unit(1, seed=1))
    assert g.export(tmp_path / "out.json") == 3
    h = Gallery(tmp_path / "b.db")
    assert h.import_(tmp_path / "out.json") == 3
    va, na = g.matrix("faceres")
    vb, nb = h.matrix("faceres")
    assert np.array_equal(va, vb) and list(na) == list(nb)

    doc = json.loads((tmp_path / "out.json").read_text())
    doc["embeddings"][1]["vector"] = "not base64!"
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(EdgekitError, match="bad.json: unreadable"):
        h.import_(tmp_path / "bad.json")
    (tmp_path / "garbage.json").write_text("{]")
    with pytest.raises(EdgekitError, match="garbage.json: unreadable"):
        h.import_(tmp_path / "garbage.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else", "embeddings": []}))
    with pytest.raises(EdgekitError, match="format 'something-else'"):
        h.import_(tmp_path / "other.json")
    with pytest.raises(EdgekitError, match="missing.json: unreadable"):
        h.import_(tmp_path / "missing.json")
    assert h.identities() == {"ada": 2, "bob": 1}  # nothing half-imported


def _open_files(path) -> int:
    """File descriptors of this process open on the gallery file or its -wal/-shm."""
    names = {str(path), f"{path}-wal", f"{path}-shm"}
    return sum(os.path.realpath(f"/proc/self/fd/{fd}") in names for fd in os.listdir("/proc/self/fd"))


def test_one_connection_per_gallery_closed_by_close_or_a_with_block(tmp_path):
    path = tmp_path / "g.db"
    Gallery(path).close()
    base = _open_files(path)
    for i in range(20):
        with Gallery(path) as g:
            g.add(f"p{i}", "faceres", _unit(1, seed=i))
            assert g.identities("faceres")[f"p{i}"] == 1
        with pytest.raises(sqlite3.ProgrammingError):  # closed: nothing holds the file any more
            g.identities()
    g = Gallery(path)
    g.identities()
    g.close()
    g.close()  # twice is harmless
    assert _open_files(path) == base == 0
    assert len(Gallery(path).identities()) == 20


def test_one_gallery_is_shared_by_threads(tmp_path):
    """The loop matches while MQTT commands enrol and list from other threads, all on the one connection."""
    g = Gallery(tmp_path / "g.db")
    errors = []

    def work(k):
        try:
            for i in range(25):
                g.add(f"t{k}", "faceres", _unit(2, seed=k * 100 + i))
                g.matrix("faceres")
                g.identities()
        except Exception as e:  # noqa: BLE001 - any failure in a thread fails the test
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert g.identities() == {f"t{k}": 50 for k in range(6)}
    g.close()
