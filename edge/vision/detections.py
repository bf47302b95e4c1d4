"""Detections as parallel numpy columns (boxes, scores, class ids, keypoints, track ids), filtered by masks."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np


def _empty(shape, dtype):
    return np.zeros(shape, dtype=dtype)


@dataclass
class Detections:
    boxes: np.ndarray = field(default_factory=lambda: _empty((0, 4), np.float32))  # x1, y1, x2, y2 in frame pixels
    scores: np.ndarray = field(default_factory=lambda: _empty((0,), np.float32))
    class_ids: np.ndarray = field(default_factory=lambda: _empty((0,), np.int32))
    keypoints: np.ndarray | None = None  # (N, K, 2) in frame pixels, or None
    track_ids: np.ndarray | None = None  # (N,) int64, or None until a tracker assigns them

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index) -> Detections:
        """Filter or reorder by a boolean mask, an index array or a slice."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(
            **{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[index]) for f in fields(self)}
        )

    @property
    def areas(self) -> np.ndarray:
        return np.clip(self.boxes[:, 2] - self.boxes[:, 0], 0, None) * np.clip(
            self.boxes[:, 3] - self.boxes[:, 1], 0, None
        )

    def with_(self, **changes) -> Detections:
        return replace(self, **changes)

    @staticmethod
    def concat(parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Detections()
        out = {}
        for f in fields(Detections):
            cols = [getattr(p, f.name) for p in parts]
            out[f.name] = None if any(c is None for c in cols) else np.concatenate(cols)
        return Detections(**out)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box in a (N,4) and every box in b (M,4), x1y1x2y2."""
    a = np.asarray(a, np.float32)[:, None, :]
    b = np.asarray(b, np.float32)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)
