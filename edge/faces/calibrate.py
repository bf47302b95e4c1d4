"""Thresholds from labelled data: similarity scores of same/different-person pairs -> ROC, accuracy, AUC,
TAR at FAR 1e-2 / 1e-3 and the recommended doorbell thresholds (recognise / unknown).

Pairs come from a pairs file (edge.faces.pairs: deepface's CSV or LFW's pairs.txt) or from a folder of folders, one per
identity (every pair of pictures, same folder = same person)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import EdgekitError
from edge.faces.evaluate import embed_file, pair_scores
from edge.images import list_images
from edge.metrics import accuracy_at, best_accuracy, roc_auc, tar_at_far

FARS = (1e-1, 1e-2, 1e-3)


def scores_from_pairs(detector, embedder, csv_path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(cosine similarity per usable pair, same-person flag, pairs left out: no face or unreadable picture); the
    pairs file as edge.faces.pairs reads it (CSV or LFW pairs.txt)."""
    return pair_scores(detector, embedder, Path(csv_path))


def identity_vectors(detector, embedder, root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors and identity names of every picture under root/<identity>/ (pre-cropped faces are embedded
    whole)."""
    root = Path(root)
    folders = sorted(d for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    if not folders:
        raise EdgekitError(
            f"identities folder {root}: no identity folders in it",
            "pass a folder with one sub-folder of pictures per person",
        )
    vecs, ids = [], []
    for d in folders:
        for f in list_images(d):
            v = embed_file(detector, embedder, f, whole_if_none=True)
            if v is not None:
                vecs.append(v)
                ids.append(d.name)
    if len(set(ids)) < 2:
        raise EdgekitError(
            f"identities folder {root}: fewer than 2 identities with a usable picture", "add more people"
        )
    return np.stack(vecs), np.asarray(ids)


def scores_from_identities(vectors: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of pictures: (similarity, same identity)."""
    iu = np.triu_indices(len(ids), 1)
    return (vectors @ vectors.T)[iu], (ids[:, None] == ids[None, :])[iu]


def roc_curve(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false accept rate, true accept rate, threshold) for every distinct threshold, strictest first."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], same[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last index of each run of equal scores
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    return fp / max(int((~same).sum()), 1), tp / max(int(same.sum()), 1), s[last]


def report(scores: np.ndarray, same: np.ndarray, current: float | None = None) -> dict:
    """The figures and the recommended thresholds for one set of scored pairs."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    if same.all() or not same.any():
        raise EdgekitError(
            "calibration pairs: need both same-person and different-person pairs",
            "label some pairs No (or give at least two identities)",
        )
    acc, best_t = best_accuracy(scores, same)
    out = {
        "pairs": int(len(scores)),
        "same": int(same.sum()),
        "different": int((~same).sum()),
        "auc": round(roc_auc(scores, same), 4),
        "best_accuracy": round(acc, 4),
        "best_threshold": round(best_t, 4),
    }
    for far in FARS:
        tar, t = tar_at_far(scores, same, far)
        out[f"tar_at_far_{far:g}"] = round(tar, 4)
        out[f"threshold_at_far_{far:g}"] = round(t, 4)
    # With fewer than 1/FAR different pairs the FAR cannot be resolved: say so rather than print a number that looks
    # exact.
    out["far_resolution"] = round(1.0 / max(int((~same).sum()), 1), 5)
    if current is not None:
        out["accuracy_at_threshold"] = round(accuracy_at(scores, same, current), 4)
        out["threshold"] = current
    out["recommended"] = recommend(scores, same)
    return out


def recommend(scores: np.ndarray, same: np.ndarray) -> dict:
    """recognise: the stricter of the best-accuracy point and FAR 1e-3 (a doorbell must not let strangers in);
    unknown: 1% of same-person pairs score below it, so a score under it is almost surely a stranger."""
    _, best_t = best_accuracy(scores, same)
    _, far_t = tar_at_far(scores, same, 1e-3)
    recognise = max(best_t, far_t)
    unknown = min(float(np.percentile(scores[same], 1)), recognise)
    return {"recognize": round(float(recognise), 3), "unknown": round(unknown, 3)}


def write_roc(path: Path, scores: np.ndarray, same: np.ndarray) -> int:
    far, tar, thr = roc_curve(scores, same)
    Path(path).write_text(
        "threshold,far,tar\n" + "".join(f"{t:.5f},{f:.6f},{r:.6f}\n" for t, f, r in zip(thr, far, tar))
    )
    return len(thr)
