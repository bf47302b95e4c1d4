"""The gallery: identities and their embeddings in one SQLite file (WAL, every write one transaction, so a crash
never leaves it half-written). Embeddings are stored per embedder model; photos are never stored.

A file that is not an edgekit gallery (not SQLite, or another program's SQLite database) is refused before anything
is written to it.

One connection per Gallery object, shared by the threads that use it (the loop, MQTT commands) under a lock; `close()`
or a `with` block ends it."""
from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from edge.errors import EdgekitError
from edge.private import private_file

APPLICATION_ID = 0x45444B47  # "EDKG" in the SQLite header: marks the file as an edgekit gallery
SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
  id INTEGER PRIMARY KEY,
  identity TEXT NOT NULL,
  model TEXT NOT NULL,
  vector BLOB NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS embeddings_model ON embeddings(model, identity);
"""
EXPORT_FORMAT = "edgekit-gallery/1"


class Gallery:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            raise EdgekitError(f"gallery {self.path}: is a folder", "set gallery.path to a file, e.g. ~/.local/share/edgekit/gallery.db")
        private_file(self.path)  # 0600 before SQLite opens it: its -wal/-shm files take the same mode
        self._lock = threading.RLock()
        self.db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
        try:
            self._check_or_create()
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise EdgekitError(f"gallery {self.path}: not an edgekit gallery ({e})",
                               "point gallery.path at another file; this one was left untouched") from None
        self._writes = 0

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    def _check_or_create(self) -> None:
        # Read-only look first: the header read fails on a file that is not SQLite, before any write.
        app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        ours = app_id == APPLICATION_ID or (app_id == 0 and tables == {"embeddings"})  # 0: written before the mark
        if tables and not ours:
            raise sqlite3.DatabaseError(f"an SQLite database of another program (tables: {', '.join(sorted(tables))})")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if not tables:
            self.db.executescript(f"BEGIN IMMEDIATE; PRAGMA application_id = {APPLICATION_ID}; {SCHEMA} COMMIT;")

    def _dimension(self, model: str) -> int | None:
        rows = self._rows("SELECT length(vector) FROM embeddings WHERE model = ? LIMIT 1", (model,))
        return rows[0][0] // 4 if rows else None

    def _insert(self, rows: list[tuple]) -> None:
        """All rows in one transaction, after checking each model's vector length against what is stored."""
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for model in {r[1] for r in rows}:
                dims = {len(r[2]) // 4 for r in rows if r[1] == model}
                stored = self._dimension(model)
                if len(dims | ({stored} if stored else set())) > 1:
                    raise EdgekitError(f"gallery {self.path}: {model} embeddings of {sorted(dims)} values, the gallery holds {stored}",
                                       "enrol with the same embedder model the gallery was built with")
            self.db.executemany("INSERT INTO embeddings(identity, model, vector, source, created) VALUES (?,?,?,?,?)", rows)
            self._writes += 1

    def add(self, identity: str, model: str, vectors: np.ndarray, source: str = "") -> int:
        identity = identity.strip()
        if not identity or len(identity) > 128:
            raise EdgekitError(f"identity name {identity!r}: must be 1-128 characters", "choose another name")
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        if not np.isfinite(vectors).all():
            raise EdgekitError(f"embeddings for {identity}: contain NaN or infinity", "re-enrol from other pictures")
        now = time.time()
        self._insert([(identity, model, v.tobytes(), source, now) for v in vectors])
        return len(vectors)

    def remove(self, identity: str) -> int:
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            n = self.db.execute("DELETE FROM embeddings WHERE identity = ?", (identity,)).rowcount
            self._writes += 1
        return n

    def identities(self, model: str | None = None) -> dict[str, int]:
        """Identity -> number of stored embeddings (of one embedder model, or of all)."""
        where, args = ("WHERE model = ?", (model,)) if model else ("", ())
        return dict(self._rows(f"SELECT identity, COUNT(*) FROM embeddings {where} GROUP BY identity ORDER BY identity", args))

    def models(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT DISTINCT model FROM embeddings ORDER BY model")]

    def matrix(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (M, D) float32, identity per row (M,)) for one embedder model."""
        rows = self._rows("SELECT identity, vector FROM embeddings WHERE model = ? ORDER BY identity, id", (model,))
        if not rows:
            return np.zeros((0, 0), np.float32), np.zeros(0, object)
        return np.frombuffer(b"".join(v for _, v in rows), np.float32).reshape(len(rows), -1), np.asarray([i for i, _ in rows], object)

    def export(self, path: str | Path) -> int:
        """Write every embedding to a JSON file (atomically: a temporary file renamed over the target)."""
        rows = self._rows("SELECT identity, model, vector, source, created FROM embeddings ORDER BY id")
        data = [{"identity": i, "model": m, "vector": base64.b64encode(v).decode(), "source": s, "created": c} for i, m, v, s, c in rows]
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(json.dumps({"format": EXPORT_FORMAT, "embeddings": data}))
        tmp.replace(path)
        return len(data)

    def import_(self, path: str | Path) -> int:
        """Add the embeddings of an export file: all of them or, if any is bad, none."""
        try:
            doc = json.loads(Path(path).read_text())
            if doc.get("format") != EXPORT_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {EXPORT_FORMAT!r}")
            rows = [(str(e["identity"]), str(e["model"]), base64.b64decode(e["vector"], validate=True), str(e.get("source", "")),
                     float(e.get("created", time.time()))) for e in doc["embeddings"]]
            if any(len(r[2]) % 4 or not r[2] or not r[0].strip() for r in rows):
                raise ValueError("an embedding with an empty name or a vector that is not float32")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise EdgekitError(f"gallery export {path}: unreadable ({type(e).__name__}: {e})", "pass a file written by `edgekit faces export`") from None
        self._insert(rows)
        return len(rows)

    @property
    def version(self) -> int:
        """Changes whenever the gallery changes, by this process or another one (`edgekit faces enroll` while the
        doorbell runs): SQLite's data_version counts other connections' commits."""
        with self._lock:
            return self._writes * 1_000_003 + self.db.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self.db.close()
