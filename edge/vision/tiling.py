"""Tiled detection for frames much larger than the model input (a 3264x2448 shelf photo into a 416x416 detector
shrinks a product to a few pixels). The frame is cut into overlapping tiles, each tile is detected on its own, boxes
are mapped back to frame pixels and merged.

Merging is class-aware NMS, then one more rule: a box mostly inside a better box of the same class is a fragment of it
(an object cut by a tile border is seen whole in the neighbouring tile, thanks to the overlap) and is dropped. IoU
alone keeps such fragments, since a half box has IoU ~0.5 with the whole one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.vision.detections import Detections
from edge.vision.nms import nms


class TilingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = Field(800, ge=32, description="tile side in frame pixels (the detector resizes each tile to its input)")
    overlap: float = Field(0.2, ge=0.0, lt=0.9, description="fraction of a tile shared with its neighbour")
    full_frame: bool = Field(True, description="also detect on the whole frame, for objects bigger than a tile")
    iou_threshold: float = Field(0.5, gt=0.0, le=1.0)
    contained_threshold: float = Field(
        0.8, gt=0.0, le=1.0, description="drop a box this much inside a better same-class box"
    )
    max_detections: int = Field(1000, gt=0)


def tile_grid(height: int, width: int, size: int, overlap: float) -> np.ndarray:
    """(T, 4) int x1y1x2y2 tiles covering the frame: tiles of `size` (clipped to the frame), evenly spread so that
    neighbours share at least `overlap` of a tile, the last ones flush with the right/bottom edge."""

    def starts(length: int) -> np.ndarray:
        if length <= size:
            return np.zeros(1, int)
        step = max(1, int(size * (1 - overlap)))
        n = int(np.ceil((length - size) / step)) + 1
        return np.round(np.linspace(0, length - size, n)).astype(int)

    tw, th = min(size, width), min(size, height)
    xs, ys = starts(width), starts(height)
    gx, gy = np.meshgrid(xs, ys)
    x1, y1 = gx.ravel(), gy.ravel()
    return np.stack([x1, y1, x1 + tw, y1 + th], 1)


def intersection_over_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M): intersection area over the smaller of the two boxes' areas."""
    a, b = a[:, None, :], b[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return iw * ih / np.maximum(np.minimum(area_a, area_b), 1e-9)


def merge(dets: Detections, cfg: TilingConfig) -> Detections:
    """Class-aware NMS, then drop boxes mostly contained in a better box of the same class. Best first."""
    if len(dets) == 0:
        return dets
    dets = dets[nms(dets.boxes, dets.scores, cfg.iou_threshold, dets.class_ids, cfg.max_detections)]  # best first
    ios = intersection_over_smaller(dets.boxes, dets.boxes)
    same = dets.class_ids[:, None] == dets.class_ids[None, :]
    smaller = dets.areas[:, None] <= dets.areas[None, :]  # row is the smaller box
    better = np.tri(len(dets), k=-1, dtype=bool)  # column ranks above row (sorted best first)
    fragment = ((ios >= cfg.contained_threshold) & same & smaller & better).any(1)
    return dets[~fragment]


def detect_tiled(frame: np.ndarray, detect: Callable[[np.ndarray], Detections], cfg: TilingConfig) -> Detections:
    """Run `detect` (frame -> Detections in that frame's pixels) on each tile and optionally the whole frame; merge."""
    h, w = frame.shape[:2]
    tiles = tile_grid(h, w, cfg.size, cfg.overlap)
    parts = [detect(frame)] if cfg.full_frame and len(tiles) > 1 else []
    for x1, y1, x2, y2 in tiles:  # a handful of tiles per frame, each one model call
        d = detect(frame[y1:y2, x1:x2])
        if len(d):
            offset = np.array([x1, y1, x1, y1], np.float32)
            kp = None if d.keypoints is None else d.keypoints + offset[:2]
            parts.append(d.with_(boxes=d.boxes + offset, keypoints=kp))
    return merge(Detections.concat(parts), cfg)
