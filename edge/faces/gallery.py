"""The gallery: identities and their embeddings in one SQLite file (WAL, every write one transaction, so a crash
never leaves it half-written). Embeddings are stored per embedder model; photos are never stored."""
from __future__ import annotations

import base64
import json
import sqlite3
import time
from pathlib import Path

import numpy as np

from edge.errors import EdgekitError

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


class Gallery:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise EdgekitError(f"gallery {self.path}: not an edgekit gallery ({e})",
                               "point gallery.path at another file; the file itself was left untouched") from None
        self._version = 0

    def add(self, identity: str, model: str, vectors: np.ndarray, source: str = "") -> int:
        identity = identity.strip()
        if not identity or len(identity) > 128:
            raise EdgekitError(f"identity name {identity!r}: must be 1-128 characters", "choose another name")
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        with self.db:  # one transaction: all vectors or none
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO embeddings(identity, model, vector, source, created) VALUES (?,?,?,?,?)",
                [(identity, model, v.tobytes(), source, time.time()) for v in vectors])
        self._version += 1
        return len(vectors)

    def remove(self, identity: str) -> int:
        with self.db:
            self.db.execute("BEGIN")
            n = self.db.execute("DELETE FROM embeddings WHERE identity = ?", (identity,)).rowcount
        self._version += 1
        return n

    def identities(self) -> dict[str, int]:
        rows = self.db.execute("SELECT identity, COUNT(*) FROM embeddings GROUP BY identity ORDER BY identity")
        return dict(rows.fetchall())

    def matrix(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (M, D) float32, identity per row (M,)) for one embedder model."""
        rows = self.db.execute("SELECT identity, vector FROM embeddings WHERE model = ? ORDER BY identity, id", (model,)).fetchall()
        if not rows:
            return np.zeros((0, 0), np.float32), np.zeros(0, object)
        return np.stack([np.frombuffer(v, np.float32) for _, v in rows]), np.asarray([i for i, _ in rows], object)

    def export(self, path: str | Path) -> int:
        rows = self.db.execute("SELECT identity, model, vector, source, created FROM embeddings ORDER BY id").fetchall()
        data = [{"identity": i, "model": m, "vector": base64.b64encode(v).decode(), "source": s, "created": c} for i, m, v, s, c in rows]
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(json.dumps({"format": "edgekit-gallery/1", "embeddings": data}))
        tmp.replace(path)
        return len(data)

    def import_(self, path: str | Path) -> int:
        try:
            doc = json.loads(Path(path).read_text())
            rows = [(e["identity"], e["model"], base64.b64decode(e["vector"]), e.get("source", ""), float(e.get("created", time.time())))
                    for e in doc["embeddings"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise EdgekitError(f"gallery export {path}: unreadable ({type(e).__name__}: {e})", "pass a file written by `edgekit faces export`") from None
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO embeddings(identity, model, vector, source, created) VALUES (?,?,?,?,?)", rows)
        self._version += 1
        return len(rows)

    @property
    def version(self) -> int:
        return self._version

    def close(self) -> None:
        self.db.close()
