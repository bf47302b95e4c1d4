"""Non-maximum suppression: hard (per class) and weighted (BlazeFace's blending of overlapping boxes)."""

from __future__ import annotations

import cv2
import numpy as np

from edge.vision.detections import iou_matrix


def nms(
    boxes: np.ndarray, scores: np.ndarray, iou: float, class_ids: np.ndarray | None = None, max_out: int = 300
) -> np.ndarray:
    """Indices kept by hard NMS, best first; per class when class_ids is given (boxes offset by class)."""
    if len(scores) == 0:
        return np.zeros(0, np.int64)
    b = boxes.astype(np.float32)
    if class_ids is not None:
        offset = (class_ids.astype(np.float32) * (float(b.max()) + 1.0))[:, None]
        b = b + offset
    xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(np.float32).tolist(), 0.0, iou, top_k=max_out)
    keep = np.asarray(keep, np.int64).reshape(-1)
    return keep[np.argsort(-scores[keep], kind="stable")]


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou: float, extra: np.ndarray | None = None):
    """MediaPipe-style weighted NMS: each kept box (and its extra coordinates, e.g. keypoints) is the score-weighted
    mean of the boxes that overlap it by more than `iou`. Returns (boxes, scores, extra) of the kept groups."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    extra = extra[order] if extra is not None else None
    overlaps = iou_matrix(boxes, boxes) > iou
    alive = np.ones(len(scores), bool)
    out_b, out_s, out_e = [], [], []
    for i in range(len(scores)):  # loops over surviving groups (a handful of faces), not anchors
        if not alive[i]:
            continue
        group = overlaps[i] & alive
        group[i] = True  # a degenerate (zero-area) box has IoU NaN even with itself
        alive &= ~group
        w = scores[group][:, None]
        out_b.append((boxes[group] * w).sum(0) / w.sum())
        out_s.append(scores[i])
        if extra is not None:
            out_e.append((extra[group] * w.reshape((-1,) + (1,) * (extra.ndim - 1))).sum(0) / w.sum())
    if not out_b:
        return boxes[:0], scores[:0], (extra[:0] if extra is not None else None)
    return np.stack(out_b), np.asarray(out_s, np.float32), (np.stack(out_e) if extra is not None else None)
