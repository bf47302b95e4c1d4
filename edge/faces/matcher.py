"""Cosine matching of face embeddings against the whole gallery as one matrix product (unit vectors)."""
from __future__ import annotations

import numpy as np


class Matcher:
    """Best identity per query: the highest similarity over that identity's stored embeddings."""

    def __init__(self, vectors: np.ndarray, identities: np.ndarray):
        self.names, inverse = np.unique(identities, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        self.vectors = np.ascontiguousarray(vectors[order], dtype=np.float32)
        # rows of one identity are contiguous: reduceat takes each identity's best row in one pass
        self.starts = np.searchsorted(inverse[order], np.arange(len(self.names)))

    def __len__(self) -> int:
        return len(self.names)

    def match(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(best identity name, similarity) per query row; names are None for an empty gallery."""
        queries = np.atleast_2d(queries).astype(np.float32, copy=False)
        if not len(self.names):
            return np.full(len(queries), None, object), np.full(len(queries), -1.0, np.float32)
        sims = queries @ self.vectors.T
        per_identity = np.maximum.reduceat(sims, self.starts, axis=1)
        best = per_identity.argmax(1)
        return self.names[best], per_identity[np.arange(len(queries)), best]
