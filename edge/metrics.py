"""Verification and identification metrics over similarity scores (numpy only; used by the gate and `faces`
commands)."""

from __future__ import annotations

import numpy as np


def roc_auc(scores: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a random same pair > score of a random different pair), ties half."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    pos, neg = scores[same], scores[~same]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    # average ranks over ties
    _, first, counts = np.unique(allv, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def best_accuracy(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(accuracy, threshold) maximising accuracy of `score >= threshold` as 'same'."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    cands = np.unique(scores)
    cands = np.concatenate([cands, [cands[-1] + 1e-6]]) if len(cands) else np.array([0.0])
    acc = ((scores[None, :] >= cands[:, None]) == same[None, :]).mean(1)
    i = int(np.argmax(acc))
    return float(acc[i]), float(cands[i])


def accuracy_at(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(((np.asarray(scores) >= threshold) == np.asarray(same, bool)).mean())


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> tuple[float, float]:
    """(true accept rate, threshold) at the threshold where at most `far` of different pairs are accepted."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    neg = np.sort(scores[~same])[::-1]
    if len(neg) == 0:
        return float("nan"), float("nan")
    k = int(np.floor(far * len(neg)))
    threshold = neg[k] + 1e-9 if k < len(neg) else neg[-1]
    return float((scores[same] >= threshold).mean()), float(threshold)


def rank1(gallery: np.ndarray, gallery_ids: np.ndarray, probes: np.ndarray, probe_ids: np.ndarray) -> float:
    """Share of probes whose most similar gallery vector (cosine; unit vectors) has the probe's identity."""
    best = np.argmax(probes @ gallery.T, axis=1)
    return float((np.asarray(gallery_ids)[best] == np.asarray(probe_ids)).mean())
