"""What the doorbell learns from its own camera, in the gallery's SQLite file beside the enrolled embeddings: unknown
visitors (clustered embeddings, a thumbnail only when configured), negatives ("that was not Ann"), the embeddings of
recent decisions (for `reject EVENT_ID`), and adapted embeddings (rows of `embeddings` with source `adapted:<event>`).
Every table is tagged with the embedder (model, weights) like `embeddings`. A Gallery mixin: it uses the gallery's
one connection, its lock and `_write` (one transaction per write)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edge.errors import EdgekitError
from edge.faces import adapt, unknowns
from edge.faces.adapt import AdaptConfig
from edge.faces.unknowns import UnknownsConfig, parse_visitor, visitor_name

LEARNED_SCHEMA = """
CREATE TABLE IF NOT EXISTS visitors (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model TEXT NOT NULL,
  weights TEXT NOT NULL DEFAULT '',
  centroid BLOB NOT NULL,
  seen INTEGER NOT NULL,
  first_seen REAL NOT NULL,
  last_seen REAL NOT NULL,
  thumbnail BLOB
);
CREATE TABLE IF NOT EXISTS visitor_embeddings (
  id INTEGER PRIMARY KEY,
  visitor INTEGER NOT NULL REFERENCES visitors(id) ON DELETE CASCADE,
  vector BLOB NOT NULL,
  created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS visitor_embeddings_visitor ON visitor_embeddings(visitor);
CREATE TABLE IF NOT EXISTS negatives (
  id INTEGER PRIMARY KEY,
  identity TEXT NOT NULL,
  model TEXT NOT NULL,
  weights TEXT NOT NULL DEFAULT '',
  vector BLOB NOT NULL,
  event_id TEXT NOT NULL,
  created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS negatives_identity ON negatives(identity);
CREATE TABLE IF NOT EXISTS recent_events (
  event_id TEXT PRIMARY KEY,
  identity TEXT,
  visitor INTEGER,
  model TEXT NOT NULL,
  weights TEXT NOT NULL DEFAULT '',
  vector BLOB NOT NULL,
  created REAL NOT NULL
);
"""
LEARNED_TABLES = frozenset({"visitors", "visitor_embeddings", "negatives", "recent_events", "sqlite_sequence"})


@dataclass(frozen=True)
class Visitor:
    id: str  # visitor-7
    seen: int
    first_seen: float
    last_seen: float
    thumbnail: bytes | None = None

    def to_json(self, thumbnails: bool = True) -> dict:
        import base64

        thumb = base64.b64encode(self.thumbnail).decode() if thumbnails and self.thumbnail else None
        return {
            "id": self.id,
            "seen": self.seen,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "thumbnail": thumb,
        }


class LearnedTables:
    """Mixed into Gallery (which provides db, path, _lock, _query, _write, require_writable, add)."""

    def _learned(self) -> bool:
        """Whether the learned tables exist (a read-only gallery from before them has none: nothing learned)."""
        rows = self._query("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'visitors'")
        return bool(rows[0][0])

    # ---- unknown visitors ----
    def record_visit(
        self, tag, vector: np.ndarray, cfg: UnknownsConfig, threshold: float, thumbnail: bytes | None = None
    ) -> Visitor:
        """One unknown track's embedding: joins the nearest visitor at or above `threshold`, else a new one (the
        least recently seen is forgotten beyond cfg.max_visitors). Returns the visitor with its new count."""
        vector = np.asarray(vector, np.float32)
        now = time.time()
        out: list[Visitor] = []

        def work():
            rows = self.db.execute(
                "SELECT id, centroid, seen, first_seen FROM visitors WHERE model = ? AND weights = ? ORDER BY id",
                (tag.model, tag.weights),
            ).fetchall()
            rows = [r for r in rows if len(r[1]) == 4 * len(vector)]
            centroids = np.stack([np.frombuffer(r[1], np.float32) for r in rows]) if rows else np.zeros((0, 1))
            k, _ = unknowns.assign(centroids, vector, threshold)
            thumb = thumbnail if cfg.thumbnails else None
            if k is None:
                cur = self.db.execute(
                    "INSERT INTO visitors(model, weights, centroid, seen, first_seen, last_seen, thumbnail) "
                    "VALUES (?,?,?,1,?,?,?)",
                    (tag.model, tag.weights, vector.tobytes(), now, now, thumb),
                )
                vid, seen, first = cur.lastrowid, 1, now
                self._forget_beyond(cfg.max_visitors)
            else:
                vid, _, seen, first = rows[k]
                centroid = unknowns.merged_mean(centroids[k], seen, vector)
                seen += 1
                self.db.execute(
                    "UPDATE visitors SET centroid = ?, seen = ?, last_seen = ?, thumbnail = COALESCE(?, thumbnail) "
                    "WHERE id = ?",
                    (centroid.tobytes(), seen, now, thumb, vid),
                )
            self.db.execute(
                "INSERT INTO visitor_embeddings(visitor, vector, created) VALUES (?,?,?)", (vid, vector.tobytes(), now)
            )
            self._bound_visitor(vid, cfg.per_visitor)
            out.append(Visitor(visitor_name(vid), seen, first, now, thumb))

        self._write("record unknown visitors", work)
        return out[0]

    def _forget_beyond(self, max_visitors: int) -> None:
        old = self.db.execute(
            "SELECT id FROM visitors ORDER BY last_seen DESC, id DESC LIMIT -1 OFFSET ?", (max_visitors,)
        ).fetchall()
        for (vid,) in old:
            self._delete_visitor(vid)

    def _delete_visitor(self, vid: int) -> None:
        self.db.execute("DELETE FROM visitor_embeddings WHERE visitor = ?", (vid,))
        self.db.execute("DELETE FROM visitors WHERE id = ?", (vid,))

    def _bound_visitor(self, vid: int, per_visitor: int) -> None:
        rows = self.db.execute("SELECT id, vector FROM visitor_embeddings WHERE visitor = ? ORDER BY id", (vid,))
        rows = rows.fetchall()
        while len(rows) > per_visitor:
            k = unknowns.most_redundant(np.stack([np.frombuffer(v, np.float32) for _, v in rows]))
            self.db.execute("DELETE FROM visitor_embeddings WHERE id = ?", (rows[k][0],))
            rows.pop(k)

    def visitors(self, tag=None) -> list[Visitor]:
        """Unknown visitors (of one embedder, or all), most recently seen first."""
        if not self._learned():
            return []
        where, args = ("WHERE model = ? AND (weights = ? OR weights = '' OR ? = '')", ()) if tag else ("", ())
        if tag:
            args = (tag.model, tag.weights, tag.weights)
        rows = self._query(
            f"SELECT id, seen, first_seen, last_seen, thumbnail FROM visitors {where} ORDER BY last_seen DESC, id DESC",
            args,
        )
        return [Visitor(visitor_name(i), s, f, last, t) for i, s, f, last, t in rows]

    def visitor_vectors(self, visitor: str) -> np.ndarray:
        vid = parse_visitor(visitor)
        rows = self._query("SELECT vector FROM visitor_embeddings WHERE visitor = ? ORDER BY id", (vid,))
        return np.stack([np.frombuffer(v, np.float32) for (v,) in rows]) if rows else np.zeros((0, 0), np.float32)

    def name_visitor(self, visitor: str, name: str) -> int:
        """Enrol a visitor's embeddings as `name` and forget the visitor (one transaction). Returns how many."""
        vid = parse_visitor(visitor)
        name = name.strip()
        if not name or len(name) > 128:
            raise EdgekitError(f"identity name {name!r}: must be 1-128 characters", "choose another name")
        self.require_writable("name visitors")
        head = self._query("SELECT model, weights FROM visitors WHERE id = ?", (vid,)) if self._learned() else []
        if not head:
            raise EdgekitError(f"{visitor}: no such unknown visitor", "list them with `edgekit faces unknowns`")
        model, weights = head[0]
        vectors = self._query("SELECT vector FROM visitor_embeddings WHERE visitor = ? ORDER BY id", (vid,))
        now = time.time()

        def work():
            self.db.executemany(
                "INSERT INTO embeddings(identity, model, vector, source, created, weights) VALUES (?,?,?,?,?,?)",
                [(name, model, v, visitor, now, weights) for (v,) in vectors],
            )
            self.db.execute("UPDATE recent_events SET visitor = NULL WHERE visitor = ?", (vid,))  # they stay unknown
            self._delete_visitor(vid)

        self._write("name visitors", work)
        return len(vectors)

    # ---- recent decisions, for `reject EVENT_ID` ----
    def remember_event(
        self, event_id: str, tag, vector: np.ndarray, identity: str | None, visitor: str | None, keep: int
    ) -> None:
        vid = parse_visitor(visitor) if visitor else None

        def work():
            self.db.execute(
                "INSERT OR REPLACE INTO recent_events(event_id, identity, visitor, model, weights, vector, created) "
                "VALUES (?,?,?,?,?,?,?)",
                (
                    event_id,
                    identity,
                    vid,
                    tag.model,
                    tag.weights,
                    np.asarray(vector, np.float32).tobytes(),
                    time.time(),
                ),
            )
            self.db.execute(
                "DELETE FROM recent_events WHERE rowid IN "
                "(SELECT rowid FROM recent_events ORDER BY created DESC, rowid DESC LIMIT -1 OFFSET ?)",
                (keep,),
            )

        self._write("remember events", work)

    def reject(self, event_id: str, max_per_identity: int) -> dict:
        """ "That was not X": the embedding of recognition `event_id` becomes a negative for X, and the embedding the
        event adapted X with (if any) is removed. Returns {identity, negatives, adapted_removed}."""
        self.require_writable("store negatives")
        rows = (
            self._query(
                "SELECT identity, model, weights, vector FROM recent_events WHERE event_id = ?", (str(event_id),)
            )
            if self._learned()
            else []
        )
        if not rows:
            raise EdgekitError(
                f"event {event_id}: not among the recent decisions this gallery remembers",
                "reject a face_recognized event's id soon after it (learning.recent_events bounds how many are kept)",
            )
        identity, model, weights, vector = rows[0]
        if identity is None:
            raise EdgekitError(f"event {event_id}: was an unknown face, not a recognition", "reject a face_recognized")
        out = {}

        def work():
            self.db.execute(
                "INSERT INTO negatives(identity, model, weights, vector, event_id, created) VALUES (?,?,?,?,?,?)",
                (identity, model, weights, vector, str(event_id), time.time()),
            )
            self.db.execute(
                "DELETE FROM negatives WHERE identity = ? AND id NOT IN "
                "(SELECT id FROM negatives WHERE identity = ? ORDER BY id DESC LIMIT ?)",
                (identity, identity, max_per_identity),
            )
            removed = self.db.execute(
                "DELETE FROM embeddings WHERE identity = ? AND source = ?", (identity, f"adapted:{event_id}")
            ).rowcount
            n = self.db.execute("SELECT COUNT(*) FROM negatives WHERE identity = ?", (identity,)).fetchone()[0]
            out.update(identity=identity, negatives=n, adapted_removed=removed)

        self._write("store negatives", work)
        return out

    def negatives(self, tag) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (N, D), identity per row) of the negatives `tag` can compare with."""
        if not self._learned():
            return np.zeros((0, tag.dim), np.float32), np.zeros(0, object)
        rows = self._query("SELECT identity, vector, weights FROM negatives WHERE model = ? ORDER BY id", (tag.model,))
        rows = [(i, v) for i, v, w in rows if tag.accepts(tag.model, w, len(v) // 4)]
        if not rows:
            return np.zeros((0, tag.dim), np.float32), np.zeros(0, object)
        return np.stack([np.frombuffer(v, np.float32) for _, v in rows]), np.asarray([i for i, _ in rows], object)

    def negative_counts(self) -> dict[str, int]:
        if not self._learned():
            return {}
        return dict(self._query("SELECT identity, COUNT(*) FROM negatives GROUP BY identity ORDER BY identity"))

    # ---- adaptation ----
    def adapted_counts(self) -> dict[str, int]:
        rows = self._query(
            "SELECT identity, COUNT(*) FROM embeddings WHERE source LIKE 'adapted:%' GROUP BY identity ORDER BY 1"
        )
        return dict(rows)

    def adapt(
        self, identity: str, tag, candidates: np.ndarray, scores: np.ndarray, event_id: str, cfg: AdaptConfig, min_score
    ) -> bool:
        """Add the most novel sure match of a recognised track to `identity` (edge.faces.adapt.choose decides, inside
        the write transaction, against what is stored now). Returns whether one was added."""
        added = []

        def work():
            rows = self.db.execute(
                "SELECT vector, source, weights FROM embeddings WHERE identity = ? AND model = ?", (identity, tag.model)
            ).fetchall()
            rows = [r for r in rows if tag.accepts(tag.model, r[2], len(r[0]) // 4)]
            own = np.stack([np.frombuffer(r[0], np.float32) for r in rows]) if rows else np.zeros((0, tag.dim))
            n_adapted = sum(r[1].startswith("adapted:") for r in rows)
            k = adapt.choose(candidates, scores, own, n_adapted, cfg, min_score)
            if k is None:
                return
            self._claim_recipe(tag)  # Gallery's: the running embedder's recipe, as for an enrolment
            self.db.execute(
                "INSERT INTO embeddings(identity, model, vector, source, created, weights) VALUES (?,?,?,?,?,?)",
                (
                    identity,
                    tag.model,
                    candidates[k].astype(np.float32).tobytes(),
                    f"adapted:{event_id}",
                    time.time(),
                    tag.weights,
                ),
            )
            added.append(k)

        self._write("adapt identities", work)
        return bool(added)
