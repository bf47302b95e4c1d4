"""Adaptation: high-confidence matches at the door add embeddings to the identity, so a gallery enrolled from one
photo learns the camera's views (light, angle, the doorbell's lens). Bounded per identity, and an embedding is kept
only when it adds diversity (not a near copy of one already stored). Pure policy; the gallery stores them tagged
`adapted:<event id>` so a rejection of that event removes it again."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class AdaptConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    min_score: float | None = Field(None, ge=-1, le=1)  # a match this sure adds its embedding; None: thresholds.unlock
    max_similarity: float = Field(0.97, ge=-1, le=1)  # ...unless it is this similar to a stored one (no new view)
    max_per_identity: int = Field(10, ge=0)  # adapted embeddings kept per identity (enrolled ones do not count)
    # Adapted views make recognition easier for everyone, look-alikes included (LFW: FAR at the unlock point 0.0013
    # -> 0.0087): by default only the enrolled embeddings can reach `unlock`, i.e. open the door.
    unlock: bool = False


def choose(
    candidates: np.ndarray, scores: np.ndarray, own: np.ndarray, adapted: int, cfg: AdaptConfig, min_score: float
) -> int | None:
    """Row of `candidates` (a track's embeddings, their scores against the identity) to add to the identity's
    embeddings `own`, or None: only sure matches, only while under the bound, and the most novel of them, provided it
    is not a near copy of a stored view."""
    if not cfg.enabled or adapted >= cfg.max_per_identity or not len(candidates):
        return None
    sure = np.flatnonzero(np.asarray(scores) >= min_score)
    if not len(sure):
        return None
    nearest = (candidates[sure] @ own.T).max(1) if len(own) else np.full(len(sure), -1.0)
    k = int(np.argmin(nearest))
    return int(sure[k]) if nearest[k] < cfg.max_similarity else None
