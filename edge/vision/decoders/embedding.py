"""Embedders (FaceRes, FaceNet): the model's single output, flattened per face and scaled to unit length, so cosine
similarity is a dot product and galleries match with one matrix product."""

from __future__ import annotations

import numpy as np


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; an all-zero row (a blank input) stays zero instead of becoming NaN."""
    v = np.asarray(vectors, np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


class Decoder:
    def __init__(self, card):
        self.index = card.outputs.index("embedding") if "embedding" in (card.outputs or []) else 0

    def __call__(self, outputs, transform=None) -> np.ndarray:
        """(N, D) float32 unit vectors from the raw outputs (the transform is unused: vectors have no coordinates)."""
        raw = np.asarray(outputs[self.index])
        return l2_normalise(raw.reshape(len(raw), -1))
