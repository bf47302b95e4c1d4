"""Labeled Faces in the Wild, View 2: the 10-fold verification protocol the field reports (pairs.txt).

- Pairs: meta/pairs.txt ("10 300" then per fold 300 same "Name i j" and 300 different "NameA i NameB j" lines);
  photos resolve under images/<Name>/<Name>_<iiii>.jpg beside meta/ (or beside the pairs file).
- Accuracy: for each fold, the threshold that maximises accuracy on the other nine folds is applied to it; mean and
  standard deviation over the folds. AUC and TAR at FAR 1e-3 over all pairs pooled.
- A photo where no face is found makes its pairs errors in the accuracy (never dropped). In the ROC (AUC, TAR at
  FAR) such a pair is a rejection, the biometric convention for a failure to acquire: a same pair is a false
  reject; a different pair cannot be falsely accepted by a face that was never seen.
- The subject: LFW centres the person named on each photo (the face detector of the original collection was run and
  the photo cropped around it), so the face whose box centre is nearest the image centre is taken. The most confident
  face is the wrong rule here: 757 LFW photos hold several faces and bystanders are often sharper."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import EdgekitError
from edge.metrics import best_accuracy, roc_auc, tar_at_far

SUBJECT_RULE = "the face nearest the image centre (LFW centres the named person)"


@dataclass(frozen=True)
class Pairs:
    a: list[str]  # photo paths, relative to `images`
    b: list[str]
    same: np.ndarray  # bool
    fold: np.ndarray  # int, 0-based
    images: Path

    def __len__(self) -> int:
        return len(self.a)

    def photos(self) -> list[str]:
        """Every photo once, in the order of the pairs (fold by fold: an interrupted run has whole folds cached)."""
        return list(dict.fromkeys(p for pair in zip(self.a, self.b) for p in pair))


def locate(path: str | Path) -> Path:
    """pairs.txt, from the LFW folder or the file itself."""
    path = Path(path)
    pairs = (
        path
        if path.is_file()
        else next((p for p in (path / "meta" / "pairs.txt", path / "pairs.txt") if p.is_file()), None)
    )
    if pairs is None:
        raise EdgekitError(
            f"LFW {path}: no meta/pairs.txt in it", "pass the LFW folder (with meta/pairs.txt and images/)"
        )
    return pairs


def read_pairs(path: str | Path, folds: int | None = None, limit: int | None = None) -> Pairs:
    """The View 2 pairs (edge.faces.pairs reads the file and resolves the photos), with their folds from the header;
    `folds`: only the first N folds; `limit`: the first N same and N different pairs per fold."""
    from edge.faces.pairs import read_pairs as read_pair_file

    pairs_file = locate(path)
    try:
        n_folds, per = (int(v) for v in pairs_file.read_text().split("\n", 1)[0].split()[:2])
    except ValueError:
        raise EdgekitError(
            f"pairs file {pairs_file}: first line must be 'FOLDS PAIRS' (e.g. '10 300')", "pass LFW's View 2 pairs.txt"
        ) from None
    rows = read_pair_file(pairs_file)
    if len(rows) != n_folds * 2 * per:
        raise EdgekitError(
            f"pairs file {pairs_file}: {len(rows)} pair lines, the header promises {n_folds * 2 * per}",
            "the file is truncated: fetch LFW's pairs.txt again",
        )
    a, b, same, fold = [], [], [], []
    for i, row in enumerate(rows):
        f, k = divmod(i, 2 * per)
        if (folds is not None and f >= folds) or (limit is not None and k % per >= limit):
            continue
        a.append(f"{row.a.parent.name}/{row.a.name}")  # LFW's own names (Name/Name_0001.jpg): the cache's keys
        b.append(f"{row.b.parent.name}/{row.b.name}")
        same.append(row.same)
        fold.append(f)
    return Pairs(a, b, np.asarray(same), np.asarray(fold), rows[0].a.parents[1])


def central_face(boxes: np.ndarray, shape) -> int | None:
    """Index of the box whose centre is nearest the image centre (None without boxes)."""
    if not len(boxes):
        return None
    h, w = shape[:2]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2 - w / 2, (boxes[:, 1] + boxes[:, 3]) / 2 - h / 2
    return int(np.argmin(cx * cx + cy * cy))


class EmbeddingCache:
    """Vectors per photo for one pipeline (detector + settings + embedder + crop), in an .npz under `root`, so several
    embedders and settings can be compared without re-running the others. None = no face found."""

    def __init__(self, root: Path | None, key: dict):
        self.key = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        self.path = None if root is None else Path(root) / f"{self.key}.npz"
        self.vectors: dict[str, np.ndarray | None] = {}
        if self.path is not None and self.path.is_file():
            with np.load(self.path, allow_pickle=False) as z:
                for name, found, v in zip(z["names"], z["found"], z["vectors"]):
                    self.vectors[str(name)] = v if found else None

    def save(self) -> None:
        if self.path is None or not self.vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        names = list(self.vectors)
        dim = next((len(v) for v in self.vectors.values() if v is not None), 1)
        vecs = np.stack([v if v is not None else np.zeros(dim, np.float32) for v in self.vectors.values()])
        tmp = self.path.with_suffix(".part.npz")
        np.savez(
            tmp, names=np.asarray(names), found=np.asarray([v is not None for v in self.vectors.values()]), vectors=vecs
        )
        tmp.replace(self.path)


def embed_photos(
    photos: list[str], images: Path, embed: Callable, cache: EmbeddingCache, label: str, progress: bool = True
) -> dict[str, np.ndarray | None]:
    """Run `embed(path) -> vector | None` on every photo not yet in the cache; progress on stderr."""
    from tqdm import tqdm

    todo = [p for p in photos if p not in cache.vectors]
    for i, p in enumerate(
        tqdm(todo, desc=label, unit="photo", file=sys.stderr, disable=not progress or not todo, mininterval=2.0)
    ):
        cache.vectors[p] = embed(images / p)
        if i % 1000 == 999:
            cache.save()
    if todo:
        cache.save()
    return cache.vectors


def pair_scores(pairs: Pairs, vectors: dict, distance: bool = False) -> tuple[np.ndarray, int]:
    """(score per pair, photos of these pairs without a face). Cosine similarity of unit vectors, or minus the
    Euclidean distance (`distance`: face_recognition's measure). A pair with a missed face scores -inf (rejected);
    ten_fold counts it as an error either way."""
    scores = np.empty(len(pairs))
    for i, (a, b) in enumerate(zip(pairs.a, pairs.b)):
        va, vb = vectors[a], vectors[b]
        if va is None or vb is None:
            scores[i] = -np.inf
        else:
            scores[i] = -float(np.linalg.norm(va - vb)) if distance else float(va @ vb)
    missed = sum(vectors[p] is None for p in pairs.photos())
    return scores, missed


def live_scores(pairs: Pairs, gallery: dict, once: dict, band: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Each pair as the doorbell meets it: the first photo enrolled (`gallery`: the card's mirrored embedding), the
    second seen live once (`once`: one inference) and completed with its mirror image only when that one-view score
    lies in `band` (its `gallery` vector then). The scores, and the share of probes that took the second look."""
    lo, hi = band
    scores, probes, second = np.full(len(pairs), -np.inf), 0, 0
    for i, (a, b) in enumerate(zip(pairs.a, pairs.b)):
        if gallery[a] is None or once[b] is None:
            continue  # a missed face: an error, as in pair_scores
        probes += 1
        scores[i] = float(gallery[a] @ once[b])
        if lo <= scores[i] <= hi:
            scores[i], second = float(gallery[a] @ gallery[b]), second + 1
    return scores, second / max(probes, 1)


def ten_fold(scores: np.ndarray, same: np.ndarray, fold: np.ndarray) -> dict:
    """LFW's protocol: each fold's threshold is the best-accuracy one on the other folds (scored pairs only)."""
    accs, thresholds = [], []
    for f in np.unique(fold):
        train, test = (fold != f) & np.isfinite(scores), fold == f
        _, t = best_accuracy(scores[train], same[train])
        thresholds.append(t)
        right = ((scores[test] >= t) == same[test]) & np.isfinite(scores[test])  # a missed face is an error
        accs.append(float(right.mean()))
    return {
        "accuracy_mean": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs)),
        "fold_accuracies": accs,
        "fold_thresholds": thresholds,
    }


def operating_points(scores: np.ndarray, same: np.ndarray, fold: np.ndarray) -> dict:
    """The doorbell's two thresholds from these folds: `recognize` = the mean of the folds' best-accuracy thresholds
    (balanced errors), `unlock` = the threshold where at most 1e-3 of all different pairs are accepted."""
    tf = ten_fold(scores, same, fold)
    tar, t_unlock = tar_at_far(scores, same, 1e-3)
    return {
        "recognize": round(float(np.mean(tf["fold_thresholds"])), 4),
        "unlock": round(float(t_unlock), 4),
        "unlock_tar": round(tar, 4),
        "unlock_far": 1e-3,
        "different_pairs": int((~same).sum()),
    }


def lfw_report(scores: np.ndarray, pairs: Pairs, missed: int) -> dict:
    tf = ten_fold(scores, pairs.same, pairs.fold)
    tar, _ = tar_at_far(scores, pairs.same, 1e-3)
    return {
        "pairs": len(pairs),
        "folds": int(len(np.unique(pairs.fold))),
        "accuracy_mean": round(tf["accuracy_mean"], 4),
        "accuracy_std": round(tf["accuracy_std"], 4),
        "auc": round(roc_auc(scores, pairs.same), 4),
        "tar_at_far_1e-3": round(tar, 4),
        "faces_missed": int(missed),
        "pairs_with_a_missed_face": int((~np.isfinite(scores)).sum()),
        "thresholds": operating_points(scores, pairs.same, pairs.fold),
    }


def pipeline_embed(detector, embedder) -> Callable:
    """path -> the subject's unit vector through the project's pipeline (detect, pick the subject, align, embed)."""
    from edge.images import read_image

    def embed(path: Path):
        image = read_image(path)
        dets = detector.detect(image)
        i = central_face(dets.boxes, image.shape)
        return None if i is None else embedder.embed(image, dets[i])[0]

    return embed


def pipeline_key(detector, embedder) -> dict:
    """What an embedding depends on: both models' files, the detector's score threshold, the crop settings (a
    template's points too: they are code, not card, and a cache must not outlive a re-measured template)."""
    from edge.vision.templates import TEMPLATES

    template = TEMPLATES.get(embedder.crop)
    return {
        "detector": detector.model.card.sha256,
        "min_score": float(detector.decoder.score_threshold),
        "embedder": embedder.model.card.sha256,
        "crop": embedder.crop,
        "margin": embedder.margin,
        "mirror": embedder.mirror,
        "fit": embedder.fit,
        "template": list(template.points) if template else None,
        "rule": "central",
    }


def peer_embed() -> Callable:
    """path -> face_recognition's 128-d encoding of the subject (HOG detector, upsample 1: its defaults)."""
    from edge import peer
    from edge.images import read_image

    fr = peer.load()

    def embed(path: Path):
        rgb = np.ascontiguousarray(read_image(path)[..., ::-1])
        found = fr.face_locations(rgb)  # (top, right, bottom, left)
        boxes = np.asarray([(l, t, r, b) for t, r, b, l in found], np.float32).reshape(-1, 4)
        i = central_face(boxes, rgb.shape)
        return None if i is None else np.asarray(fr.face_encodings(rgb, [found[i]])[0], np.float32)

    return embed


def cache_dir() -> Path:
    import os

    import platformdirs

    return Path(os.environ.get("EDGEKIT_EVAL_CACHE") or platformdirs.user_cache_dir("edgekit") + "/faces-eval")
