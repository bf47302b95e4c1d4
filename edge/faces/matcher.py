"""Cosine matching of face embeddings against the whole gallery as one matrix product (unit vectors).

Large galleries with several embeddings per identity are memory-bound (10,000 x 3 x 1024 floats = 120 MB read per
face). Above `prefilter_over` identities the query first meets one normalised centroid per identity, and only the
`shortlist` best identities are scored against all their embeddings."""

from __future__ import annotations

import numpy as np


class Matcher:
    """Best identity per query: the highest similarity over that identity's stored embeddings."""

    def __init__(self, vectors: np.ndarray, identities: np.ndarray, prefilter_over: int = 2000, shortlist: int = 32):
        # A row that is not a finite, non-zero vector would win or poison every argmax (NaN compares as the max of
        # reduceat): it is left out and counted, so one bad row cannot turn recognition off for everyone.
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim == 2 and len(vectors):
            good = np.isfinite(vectors).all(1) & (np.abs(vectors).sum(1) > 0)
            self.dropped = int((~good).sum())
            vectors, identities = vectors[good], np.asarray(identities, object)[good]
        else:
            self.dropped = 0
        self.names, inverse = np.unique(identities, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        self.vectors = np.ascontiguousarray(vectors[order], dtype=np.float32)
        self.owner = inverse[order]
        # rows of one identity are contiguous: reduceat takes each identity's best row in one pass
        self.starts = np.searchsorted(self.owner, np.arange(len(self.names)))
        self.shortlist = shortlist
        self.centroids = None
        if len(self.names) > prefilter_over and len(self.vectors) > len(self.names):
            c = np.add.reduceat(self.vectors, self.starts, axis=0)
            self.centroids = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
            self.ends = np.append(self.starts[1:], len(self.vectors))

    def __len__(self) -> int:
        return len(self.names)

    def match(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(best identity name, similarity) per query row; names are None for an empty gallery."""
        queries = np.atleast_2d(queries).astype(np.float32, copy=False)
        if not len(self.names):
            return np.full(len(queries), None, object), np.full(len(queries), -1.0, np.float32)
        if self.centroids is not None:
            return self._match_shortlisted(queries)
        sims = queries @ self.vectors.T
        per_identity = np.maximum.reduceat(sims, self.starts, axis=1)
        best = per_identity.argmax(1)
        return self.names[best], per_identity[np.arange(len(queries)), best]

    def _match_shortlisted(self, queries: np.ndarray):
        k = min(self.shortlist, len(self.names))
        candidates = np.argpartition(-(queries @ self.centroids.T), k - 1, axis=1)[:, :k]
        names, scores = [], []
        for q, cand in zip(queries, candidates):
            rows = np.concatenate([np.arange(self.starts[c], self.ends[c]) for c in cand])
            sims = self.vectors[rows] @ q
            i = int(np.argmax(sims))
            names.append(self.names[self.owner[rows[i]]])
            scores.append(sims[i])
        return np.asarray(names, object), np.asarray(scores, np.float32)
