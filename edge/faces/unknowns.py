"""Unknown visitors: online clustering of strangers' embeddings, so the fifth visit of the same stranger is
`visitor-7, seen 5 times`. Pure policy on unit vectors (no I/O); the gallery stores what it decides.

A leader scheme with average linkage: a visit joins the visitor whose earlier visits it resembles most on average
(the dot product with the mean of their unit vectors, not with its normalised direction: a visitor whose visits are
spread out must be matched more closely), when that average similarity reaches `threshold`; otherwise it starts a
new visitor. The default threshold is the doorbell's `unlock` point (FAR 1e-3 per pair on LFW): a visit is compared
with every visitor at once, so the per-pair `unknown` point (9 in 10 strangers under it) merges strangers.
`edgekit faces learning --lfw` measures both (docs/benchmarks.md)."""

from __future__ import annotations

import re

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.errors import EdgekitError

VISITOR_ID = re.compile(r"^visitor-(\d{1,18})$")


class UnknownsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    threshold: float | None = Field(None, ge=-1, le=1)  # join a visitor at or above this; None: thresholds.unlock
    max_visitors: int = Field(200, ge=1)  # the least recently seen visitor is forgotten beyond this
    per_visitor: int = Field(12, ge=1)  # embeddings kept per visitor (the most redundant one goes beyond this)
    thumbnails: bool = False  # keep a small JPEG of each visitor's face (otherwise embeddings only)
    thumbnail_px: int = Field(96, ge=16, le=512)


def visitor_name(visitor_id: int) -> str:
    return f"visitor-{visitor_id}"


def parse_visitor(name: str) -> int:
    m = VISITOR_ID.match(str(name).strip())
    if not m:
        raise EdgekitError(f"visitor {name!r}: not a visitor id", "use an id like visitor-7 from `faces unknowns`")
    return int(m.group(1))


def assign(means: np.ndarray, vector: np.ndarray, threshold: float) -> tuple[int | None, float]:
    """(row of the visitor this visit joins or None for a new one, its average similarity; -1 with no visitors).
    `means`: per visitor, the mean of its visits' unit vectors."""
    if not len(means):
        return None, -1.0
    sims = means @ vector
    best = int(np.argmax(sims))
    return (best if sims[best] >= threshold else None), float(sims[best])


def merged_mean(mean: np.ndarray, seen: int, vector: np.ndarray) -> np.ndarray:
    """The mean of the visits' unit vectors after one more visit."""
    return ((mean * seen + vector) / (seen + 1)).astype(np.float32)


def most_redundant(vectors: np.ndarray) -> int:
    """Row to drop when a visitor holds too many embeddings: the one most similar, on average, to the others (the
    spread of views is kept, copies of the same view go first)."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, 0.0)
    return int(np.argmax(sims.sum(1)))
