"""Agreement between two sets of detections of the same photo (no ground truth needed): boxes matched one to one,
greedily by IoU, best pairs first. Used to compare settings (tiling, INT8 exports) where no labels exist."""

from __future__ import annotations

import numpy as np

from edge.vision.detections import iou_matrix


def matched_pairs(a: np.ndarray, b: np.ndarray, iou: float = 0.5) -> int:
    """How many boxes of a pair up one-to-one with a box of b at IoU >= iou."""
    if len(a) == 0 or len(b) == 0:
        return 0
    m = iou_matrix(a, b)
    ia, ib = np.nonzero(m >= iou)
    order = np.argsort(-m[ia, ib], kind="stable")
    used_a, used_b, n = set(), set(), 0
    for k in order:  # pairs above the threshold only: a few hundred per photo at most
        i, j = int(ia[k]), int(ib[k])
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            n += 1
    return n


def f1(a: np.ndarray, b: np.ndarray, iou: float = 0.5) -> float:
    """2 x matched / (|a| + |b|): 1.0 when both found the same boxes, 0 when none agree; 1.0 for two empty sets."""
    if len(a) + len(b) == 0:
        return 1.0
    return 2 * matched_pairs(a, b, iou) / (len(a) + len(b))
