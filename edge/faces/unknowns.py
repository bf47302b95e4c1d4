"""Unknown visitors: online clustering of strangers' embeddings, so the fifth visit of the same stranger is
`visitor-7, seen 5 times`. Pure policy on unit vectors (no I/O); the gallery stores what it decides.

A leader/centroid scheme: a visit joins the visitor whose centroid (the normalised mean of its visits) is the most
similar, when that similarity reaches `threshold` (the doorbell's `unknown` threshold by default: LFW-calibrated so 9
in 10 strangers score under it against one photo; a centroid of several visits is a steadier target than one photo);
otherwise it starts a new visitor. `edgekit faces learning --lfw` measures purity and fragmentation of this scheme."""

from __future__ import annotations

import re

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.errors import EdgekitError

VISITOR_ID = re.compile(r"^visitor-(\d{1,18})$")


class UnknownsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    threshold: float | None = Field(None, ge=-1, le=1)  # join a visitor at or above this; None: thresholds.unknown
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


def assign(centroids: np.ndarray, vector: np.ndarray, threshold: float) -> tuple[int | None, float]:
    """(row of the visitor this visit joins or None for a new one, its similarity; -1 with no visitors)."""
    if not len(centroids):
        return None, -1.0
    sims = centroids @ vector
    best = int(np.argmax(sims))
    return (best if sims[best] >= threshold else None), float(sims[best])


def merged_centroid(centroid: np.ndarray, seen: int, vector: np.ndarray) -> np.ndarray:
    """The running mean direction after one more visit (each visit weighs the same)."""
    c = centroid * seen + vector
    return (c / max(float(np.linalg.norm(c)), 1e-12)).astype(np.float32)


def most_redundant(vectors: np.ndarray) -> int:
    """Row to drop when a visitor holds too many embeddings: the one most similar, on average, to the others (the
    spread of views is kept, copies of the same view go first)."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, 0.0)
    return int(np.argmax(sims.sum(1)))
