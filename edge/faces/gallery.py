"""The gallery: identities and their embeddings in one SQLite file (WAL, every write one transaction, so a crash
never leaves it half-written). Embeddings are stored per embedder: its name, the sha256 of its trained weights and
the vector size, so vectors of another embedder are never matched against (they would make everyone a stranger, or
crash the matrix product). Photos are never stored.

A file that is not an edgekit gallery (not SQLite, or another program's SQLite database) is refused before anything
is written to it. A gallery that cannot be written (read-only file, folder or file system) opens read-only: listing
and recognition work, writes say why not in one line.

One connection per Gallery object, shared by the threads that use it (the loop, MQTT commands) under a lock; `close()`
or a `with` block ends it."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import EdgekitError
from edge.faces.learned import LEARNED_SCHEMA, LEARNED_TABLES, LearnedTables
from edge.private import private_dir, private_file

APPLICATION_ID = 0x45444B47  # "EDKG" in the SQLite header: marks the file as an edgekit gallery
SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
  id INTEGER PRIMARY KEY,
  identity TEXT NOT NULL,
  model TEXT NOT NULL,
  vector BLOB NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  created REAL NOT NULL,
  weights TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS embeddings_model ON embeddings(model, identity);
"""
# How the stored vectors' faces reached the network, per embedder (recipe_of): the same weights fed another way
# embed the same face elsewhere. A gallery from before it was recorded holds no row (any recipe fits).
RECIPES_SCHEMA = """
CREATE TABLE IF NOT EXISTS recipes (
  model TEXT NOT NULL,
  weights TEXT NOT NULL,
  recipe TEXT NOT NULL,
  PRIMARY KEY (model, weights)
);
"""
EXPORT_FORMAT = "edgekit-gallery/1"


def recipe_of(card, crop=None, margin=None, fit=None) -> str:
    """How faces reach an embedder's network, as sorted JSON: the card's preprocessing and the face crop (mode,
    margin, fitted keypoints; None = the card's). Mirroring is not part of it: a face's one-view and mirrored vectors
    share one space (the doorbell mixes them), and a change of it costs accuracy, not every match."""
    from edge.vision.crop import crop_mode

    p = card.decoder.params
    fit = p.get("fit") if fit is None else fit
    return json.dumps(
        {
            "preprocess": card.preprocess.model_dump(mode="json"),
            "crop": crop_mode(p.get("crop", "box") if crop is None else crop),
            "margin": float(p.get("margin", 1.3) if margin is None else margin),
            "fit": None if fit is None else [int(i) for i in fit],
        },
        sort_keys=True,
    )


def recipe_differences(old: str, new: str) -> list[str]:
    """The keys of two recipes (recipe_of's JSON) whose values differ, judged on what both record: a key (or a
    preprocess field) that a later edgekit adds is missing from older recipes and says nothing about them."""
    old, new = json.loads(old), json.loads(new)
    out = []
    for k in old.keys() & new.keys():
        a, b = old[k], new[k]
        if isinstance(a, dict) and isinstance(b, dict):
            a, b = ({f: d[f] for f in a.keys() & b.keys()} for d in (a, b))
        if a != b:
            out.append(k)
    return sorted(out)


@dataclass(frozen=True)
class EmbedderTag:
    """Which embedder made a vector: card name, sha256 of the trained weights (the card's source: the same for every
    build of them, float or INT8, cpu or coral), vector size, and how faces reach it (`recipe_of`, kept per
    embedder in the gallery's recipes table, not per vector)."""

    model: str
    weights: str = ""  # "" for vectors stored before the gallery recorded it: judged by name and size only
    dim: int = 0
    recipe: str = ""  # "" = unknown: not checked

    @classmethod
    def of(cls, embedder) -> EmbedderTag:
        """Of a FaceEmbedder (or anything with .name, .dim, .model.card, .crop, .margin and .fit)."""
        card = embedder.model.card
        recipe = recipe_of(card, embedder.crop, embedder.margin, embedder.fit)
        return cls(embedder.name, str(card.source.get("sha256", "")), int(embedder.dim), recipe)

    @classmethod
    def of_card(cls, card, align=None) -> EmbedderTag:
        """Of a model card, without loading the model (the card's declared output size); `align`: the site's
        `embedder.align` (None: the card's crop)."""
        dim = int(np.prod(card.output_tensors[0].shape[1:])) if card.output_tensors else 0
        return cls(card.name, str(card.source.get("sha256", "")), dim, recipe_of(card, align))

    def accepts(self, model: str, weights: str, dim: int) -> bool:
        return (
            model == self.model
            and (not weights or not self.weights or weights == self.weights)
            and (not self.dim or dim == self.dim)
        )

    def describe(self) -> str:
        return f"{self.model} ({self.dim}-d, weights {self.weights[:10] or 'unrecorded'})"


class Gallery(LearnedTables):
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            raise EdgekitError(
                f"gallery {self.path}: is a folder",
                "set gallery.path to a file, e.g. ~/.local/share/edgekit/gallery.db",
            )
        self.read_only: str | None = None  # why writes are refused, or None
        self._lock = threading.RLock()
        try:
            self.db = self._connect()
        except sqlite3.Error as e:  # not even readable (permissions), or a file system SQLite cannot use
            raise EdgekitError(
                f"gallery {self.path}: cannot be opened ({e})",
                "check the file's permissions, or set gallery.path to another file",
            ) from None
        try:
            self._check_or_create()
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise EdgekitError(
                f"gallery {self.path}: not an edgekit gallery ({e})",
                "point gallery.path at another file; this one was left untouched",
            ) from None
        self._writes = 0

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    # ---- opening: read-write where possible, else read-only (or an empty stand-in where it cannot be created) ----
    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            try:
                if os.access(private_dir(self.path.parent), os.W_OK | os.X_OK):
                    private_file(self.path)  # 0600 before SQLite opens it: its -wal/-shm files take the same mode
                    return sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            except OSError:
                pass
            self.read_only = "cannot be created: its folder is not writable"
            # nothing enrolled: an empty gallery, read-only
            return sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        if os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK | os.X_OK):
            return sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
        self.read_only = "read-only: the file or its folder is not writable"
        uri = self.path.resolve().as_uri()
        try:  # a WAL gallery read-only needs its -shm; on a read-only file system SQLite can only read it immutable
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=5.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA application_id").fetchone()
            return db
        except sqlite3.OperationalError:
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)

    def _check_or_create(self) -> None:
        # Read-only look first: the header read fails on a file that is not SQLite, before any write.
        app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        ours = app_id == APPLICATION_ID or (
            app_id == 0 and "embeddings" in tables and tables <= LEARNED_TABLES | {"embeddings", "recipes"}
        )
        if tables and not ours:
            raise sqlite3.DatabaseError(f"an SQLite database of another program (tables: {', '.join(sorted(tables))})")
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(embeddings)")}
        self._weights_col = "weights" if "weights" in columns or not tables else "''"
        self._recipes = "recipes" in tables or not tables
        if self.read_only and tables:
            return
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if not tables:
            self.db.executescript(
                f"BEGIN IMMEDIATE; PRAGMA application_id = {APPLICATION_ID}; {SCHEMA} {RECIPES_SCHEMA} "
                f"{LEARNED_SCHEMA} COMMIT;"
            )
            return
        if "weights" not in columns:  # a gallery from before the embedder's weights were recorded
            self.db.execute("ALTER TABLE embeddings ADD COLUMN weights TEXT NOT NULL DEFAULT ''")
            self._weights_col = "weights"
        if "recipes" not in tables:  # a gallery from before it recorded recipes: from now on
            self.db.executescript(f"BEGIN IMMEDIATE; {RECIPES_SCHEMA} COMMIT;")
            self._recipes = True
        if "visitors" not in tables:  # a gallery from before it learned from the camera: add the tables
            self.db.executescript(f"BEGIN IMMEDIATE; {LEARNED_SCHEMA} COMMIT;")

    def require_writable(self, action: str) -> None:
        if self.read_only:
            raise EdgekitError(
                f"gallery {self.path}: {self.read_only}, so it cannot {action}",
                "make it writable, or set gallery.path to a writable file (listing and recognition work read-only)",
            )

    def _write(self, action: str, work) -> None:
        self.require_writable(action)
        try:
            with self._lock, self.db:
                self.db.execute("BEGIN IMMEDIATE")
                work()
        except sqlite3.OperationalError as e:
            if "readonly" not in str(e) and "read-only" not in str(e) and "unable to open" not in str(e):
                raise
            self.read_only = f"read-only ({e})"
            self.require_writable(action)
        self._writes += 1

    # ---- writing ----
    def _insert(self, rows: list[tuple], action: str = "enrol", replace: bool = False, tag=None) -> None:
        """All rows (identity, model, vector bytes, source, created, weights) in one transaction, after checking each
        vector is usable and each embedder's vector length against what is stored."""
        for r in rows:
            v = np.frombuffer(r[2], np.float32)
            if not np.isfinite(v).all():
                raise EdgekitError(f"embeddings for {r[0]}: contain NaN or infinity", "re-enrol from other pictures")
            if not np.abs(v).sum() > 0:
                raise EdgekitError(
                    f"embeddings for {r[0]}: a zero vector (matches nothing)", "re-enrol from other pictures"
                )

        def work():
            if replace:  # in the same transaction: a failed insert keeps what was there
                self.db.execute("DELETE FROM embeddings")
                if self._recipes:
                    self.db.execute("DELETE FROM recipes")  # how the pushed vectors were made is not known
            if tag is not None:
                self._claim_recipe(tag)
            for model in {r[1] for r in rows}:
                dims = {len(r[2]) // 4 for r in rows if r[1] == model}
                stored = self._dimension(model)
                if len(dims | ({stored} if stored else set())) > 1:
                    raise EdgekitError(
                        f"gallery {self.path}: {model} embeddings of {sorted(dims)} values, the gallery holds {stored}",
                        "enrol with the same embedder model the gallery was built with",
                    )
            self.db.executemany(
                "INSERT INTO embeddings(identity, model, vector, source, created, weights) VALUES (?,?,?,?,?,?)", rows
            )

        self._write(action, work)

    def _dimension(self, model: str) -> int | None:
        rows = self._query("SELECT length(vector) FROM embeddings WHERE model = ? LIMIT 1", (model,))
        return rows[0][0] // 4 if rows else None

    def add(self, identity: str, model: str | EmbedderTag, vectors: np.ndarray, source: str = "") -> int:
        """Store vectors for identity. `model`: the EmbedderTag that made them (or, as before, its card name)."""
        tag = model if isinstance(model, EmbedderTag) else EmbedderTag(model)
        identity = identity.strip()
        if not identity or len(identity) > 128:
            raise EdgekitError(f"identity name {identity!r}: must be 1-128 characters", "choose another name")
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        if tag.dim and vectors.shape[1] != tag.dim:
            raise EdgekitError(f"embeddings for {identity}: {vectors.shape[1]} values, {tag.model} makes {tag.dim}")
        now = time.time()
        self._insert([(identity, tag.model, v.tobytes(), source, now, tag.weights) for v in vectors], tag=tag)
        return len(vectors)

    # ---- recipes: how the stored vectors' faces reached the network ----
    def _claim_recipe(self, tag: EmbedderTag) -> None:
        """Record `tag`'s recipe for its weights (inside a write): refused while vectors of another recipe of the
        same weights are stored, taken over once none are."""
        if not tag.recipe or not self._recipes:
            return
        differ = self.recipe_conflict(tag)
        if differ:
            raise EdgekitError(*self._recipe_error(tag, differ, "so the two would not match each other"))
        self.db.execute(
            "INSERT OR REPLACE INTO recipes(model, weights, recipe) VALUES (?, ?, ?)",
            (tag.model, tag.weights, tag.recipe),
        )

    def recipe_conflict(self, tag: EmbedderTag) -> list[str]:
        """What differs (preprocess, crop, margin, fit) between `tag`'s recipe and the one the gallery's vectors of
        the same weights were made with; empty when they agree, or either is not known, or none are stored."""
        if not tag.recipe or not self._recipes:
            return []
        with self._lock:
            row = self.db.execute(
                "SELECT recipe FROM recipes WHERE model = ? AND weights = ?", (tag.model, tag.weights)
            ).fetchone()
            stored = self.db.execute(
                f"SELECT 1 FROM embeddings WHERE model = ? AND {self._weights_col} = ? LIMIT 1",
                (tag.model, tag.weights),
            ).fetchone()
        if row is None or stored is None or row[0] == tag.recipe:
            return []
        return recipe_differences(row[0], tag.recipe)

    def _recipe_error(self, tag: EmbedderTag, differ: list[str], consequence: str) -> tuple[str, str]:
        n = len(self.identities(tag))
        return (
            f"gallery {self.path}: its {n} identit{'y' if n == 1 else 'ies'} {'was' if n == 1 else 'were'} enrolled "
            f"with {tag.model} fed another way (its {', '.join(differ)} differ from the configured card's), "
            f"{consequence}",
            "configure the card and embedder.align they were enrolled with, or clear the gallery and re-enrol "
            "(`edgekit faces enroll`)",
        )

    def remove(self, identity: str) -> int:
        """Remove an identity's embeddings (enrolled and adapted) and its negatives; returns how many embeddings."""
        removed = []

        def work():
            removed.append(self.db.execute("DELETE FROM embeddings WHERE identity = ?", (identity,)).rowcount)
            self.db.execute("DELETE FROM negatives WHERE identity = ?", (identity,))

        self._write("remove identities", work)
        return removed[0]

    # ---- reading ----
    def _rows(self, columns: str, model: str | None = None) -> list[tuple]:
        where, args = ("WHERE model = ?", (model,)) if model else ("", ())
        return self._query(
            f"SELECT {columns}, model, {self._weights_col}, length(vector) / 4 FROM embeddings "
            f"{where} ORDER BY identity, id",
            args,
        )

    def identities(self, model: str | EmbedderTag | None = None) -> dict[str, int]:
        """Identity -> number of stored embeddings (of one embedder, or of all)."""
        tag = EmbedderTag(model) if isinstance(model, str) else model
        counts: dict[str, int] = {}
        for identity, m, w, dim in self._rows("identity", tag.model if tag else None):
            if tag is None or tag.accepts(m, w, dim):
                counts[identity] = counts.get(identity, 0) + 1
        return counts

    def models(self) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT model FROM embeddings ORDER BY model")]

    def embedders(self) -> list[dict]:
        """Which embedders made the stored vectors: model, weights sha256, vector size, number of embeddings."""
        rows = self._query(
            f"SELECT model, {self._weights_col}, length(vector) / 4, COUNT(*) FROM embeddings "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
        return [{"model": m, "weights": w, "dim": d, "embeddings": n} for m, w, d, n in rows]

    def foreign(self, tag: EmbedderTag) -> dict:
        """What the gallery holds that `tag` cannot match against: {identities, embeddings, made_by} (made_by lists
        the other embedders), all zero/empty when everything fits."""
        names, n, made_by = set(), 0, set()
        for identity, m, w, dim in self._rows("identity"):
            if not tag.accepts(m, w, dim):
                names.add(identity)
                n += 1
                made_by.add(EmbedderTag(m, w, dim).describe() if m == tag.model else m)
        return {"identities": len(names), "embeddings": n, "made_by": sorted(made_by)}

    def foreign_note(self, tag: EmbedderTag) -> str | None:
        """One line saying what `tag` cannot match (left out of lists and matching), or None when everything fits."""
        other = self.foreign(tag)
        if not other["embeddings"]:
            return None
        n, k = other["identities"], other["embeddings"]
        return (
            f"note: {n} identit{'y' if n == 1 else 'ies'} ({k} embedding{'' if k == 1 else 's'}) in {self.path} "
            f"{'was' if n == 1 else 'were'} enrolled with another embedder ({', '.join(other['made_by'])}), "
            f"not {tag.model}: hidden"
        )

    def check_fits(self, tag: EmbedderTag) -> str | None:
        """Before a loop starts: EdgekitError when the gallery holds vectors but none `tag` can match (everyone would
        be called unknown, or the matrix product would fail); else foreign_note's line or None."""
        differ = self.recipe_conflict(tag)
        if differ:
            raise EdgekitError(*self._recipe_error(tag, differ, "so the same faces would embed elsewhere"))
        other = self.foreign(tag)
        if other["embeddings"] and not self.identities(tag):
            n = other["identities"]
            raise EdgekitError(
                f"gallery {self.path}: its {n} identit{'y' if n == 1 else 'ies'} {'was' if n == 1 else 'were'} "
                f"enrolled with {', '.join(other['made_by'])}; the configured embedder is {tag.describe()}, "
                "so everyone would be unknown",
                "configure the embedder the gallery was enrolled with, or re-enrol with `edgekit faces enroll`",
            )
        return self.foreign_note(tag)

    def matrix(self, model: str | EmbedderTag, enrolled_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (M, D) float32, identity per row (M,)) that one embedder can match against; `enrolled_only`:
        without the views adaptation added (edge.faces.adapt)."""
        tag = EmbedderTag(model) if isinstance(model, str) else model
        rows = [
            (i, v)
            for i, v, src, m, w, dim in self._rows("identity, vector, source", tag.model)
            if tag.accepts(m, w, dim) and not (enrolled_only and src.startswith("adapted:"))
        ]
        if tag.dim == 0 and rows:  # name only: the size most rows have (a stray row of another size is not matched)
            sizes = [len(v) for _, v in rows]
            common = max(set(sizes), key=sizes.count)
            rows = [r for r in rows if len(r[1]) == common]
        if not rows:
            return np.zeros((0, tag.dim), np.float32), np.zeros(0, object)
        return np.frombuffer(b"".join(v for _, v in rows), np.float32).reshape(len(rows), -1), np.asarray(
            [i for i, _ in rows], object
        )

    # ---- export / import ----
    def export(self, path: str | Path) -> int:
        """Write every embedding to a JSON file (atomically: a temporary file renamed over the target)."""
        rows = self._query(
            f"SELECT identity, model, vector, source, created, {self._weights_col} FROM embeddings ORDER BY id"
        )
        data = [
            {"identity": i, "model": m, "vector": base64.b64encode(v).decode(), "source": s, "created": c, "weights": w}
            for i, m, v, s, c, w in rows
        ]
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(json.dumps({"format": EXPORT_FORMAT, "embeddings": data}))
        tmp.replace(path)
        return len(data)

    def import_(self, path: str | Path, expect: EmbedderTag | None = None) -> int:
        """Add the embeddings of an export file: all of them or, if any is bad, none. With `expect`, rows named after
        that embedder must have its vector size and weights (an export made by another model is refused)."""
        self.require_writable("import")
        rows = read_export(path)
        if expect is not None:
            wrong = [r for r in rows if r[1] == expect.model and not expect.accepts(r[1], r[5], len(r[2]) // 4)]
            if wrong:
                raise EdgekitError(
                    f"gallery export {path}: {_misfit(wrong, expect)}; nothing imported",
                    "import with the embedder that made them, or re-enrol",
                )
        self._insert(rows, "import")
        return len(rows)

    def replace(self, path: str | Path, expect: EmbedderTag) -> dict:
        """Make the gallery exactly the export file's embeddings (a fleet push), in one transaction: every one of them
        must be `expect`'s (a gallery of another embedder would make everyone a stranger); any fault leaves the old
        gallery as it was. Returns {identities, embeddings}."""
        self.require_writable("replace its identities")
        rows = read_export(path)
        wrong = [r for r in rows if not expect.accepts(r[1], r[5], len(r[2]) // 4)]
        if wrong:
            raise EdgekitError(
                f"gallery export {path}: {_misfit(wrong, expect)}; nothing changed",
                "push an export enrolled with this device's embedder",
            )
        self._insert(rows, "replace its identities", replace=True)
        return {"identities": len({r[0] for r in rows}), "embeddings": len(rows)}

    @property
    def version(self) -> int:
        """Changes whenever the gallery changes, by this process or another one (`edgekit faces enroll` while the
        doorbell runs): SQLite's data_version counts other connections' commits."""
        with self._lock:
            return self._writes * 1_000_003 + self.db.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self.db.close()


def read_export(path: str | Path) -> list[tuple]:
    """The rows (identity, model, vector bytes, source, created, weights) of an export file, every vector finite and
    non-zero; EdgekitError naming the file and the fault otherwise."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
            raise ValueError(
                f"format {doc.get('format') if isinstance(doc, dict) else None!r}, expected {EXPORT_FORMAT!r}"
            )
        rows = [
            (
                str(e["identity"]),
                str(e["model"]),
                base64.b64decode(e["vector"], validate=True),
                str(e.get("source", "")),
                float(e.get("created", time.time())),
                str(e.get("weights", "")),
            )
            for e in doc["embeddings"]
        ]
        if any(len(r[2]) % 4 or not r[2] or not r[0].strip() or len(r[0].strip()) > 128 for r in rows):
            raise ValueError("an embedding with an empty or over-long name, or a vector that is not float32")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise EdgekitError(
            f"gallery export {path}: unreadable ({type(e).__name__}: {str(e)[:200]})",
            "pass a file written by `edgekit faces export`",
        ) from None
    bad = [
        r
        for r in rows
        if not np.isfinite(np.frombuffer(r[2], np.float32)).all()
        or not np.abs(np.frombuffer(r[2], np.float32)).sum() > 0
    ]
    if bad:
        raise EdgekitError(
            f"gallery export {path}: the embedding of {bad[0][0]!r} contains NaN or infinity, or is zero "
            f"({len(bad)} such); nothing imported",
            "export again from a healthy gallery",
        )
    return rows


def export_embedders(rows: list[tuple]) -> list[EmbedderTag]:
    """The embedders that made an export's rows."""
    return sorted({EmbedderTag(r[1], r[5], len(r[2]) // 4) for r in rows}, key=lambda t: (t.model, t.weights, t.dim))


def _misfit(wrong: list[tuple], expect: EmbedderTag) -> str:
    r = wrong[0]
    return (
        f"{len(wrong)} embedding(s) made by {EmbedderTag(r[1], r[5], len(r[2]) // 4).describe()}; "
        f"the configured {expect.describe()} cannot match them"
    )
