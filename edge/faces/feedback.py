"""Negative feedback: "that was not Ann" (`faces reject EVENT_ID`) keeps the embedding of that event as a negative
for Ann; a later match to Ann that resembles one of Ann's negatives more than Ann's own gallery is refused (called
unknown). Pure policy on unit vectors; the gallery stores the negatives."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class NegativesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    max_per_identity: int = Field(50, ge=1)  # the oldest negative goes beyond this
    margin: float = Field(0.0, ge=-1, le=1)  # refuse when negative similarity > gallery score - margin


class Negatives:
    """The negatives of every identity, as one matrix (unit rows) and the identity each belongs to."""

    def __init__(self, vectors: np.ndarray, identities: np.ndarray, margin: float = 0.0):
        self.identities = np.asarray(identities, object)
        self.vectors = (
            np.asarray(vectors, np.float32).reshape(len(self.identities), -1) if len(self.identities) else None
        )
        self.margin = margin

    def __len__(self) -> int:
        return len(self.identities)

    def resemblance(self, identity: str | None, vector: np.ndarray) -> float:
        """The highest similarity of `vector` to a negative of `identity` (-inf without any)."""
        rows = self.identities == identity
        if identity is None or not rows.any():
            return float("-inf")
        return float((self.vectors[rows] @ vector).max())

    def refuses(self, identity: str | None, score: float, vector: np.ndarray) -> bool:
        """Whether the match (identity, score) of `vector` is refused: it resembles a negative of that identity more
        than the identity's gallery (its best similarity `score`)."""
        return self.resemblance(identity, vector) > score - self.margin

    def filter(self, names: np.ndarray, scores: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """The names with refused matches set to None (the vote then counts them as unknown)."""
        if not len(self):
            return names
        out = np.array(names, object)
        for k, (name, score) in enumerate(zip(names, scores)):
            if self.refuses(name, float(score), vectors[k]):
                out[k] = None
        return out
