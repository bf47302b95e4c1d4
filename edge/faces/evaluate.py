"""Accuracy on labelled data through the whole pipeline (detect, crop/align, embed): pairs and identification."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import EdgekitError
from edge.faces.detector import FaceDetector
from edge.faces.embedder import FaceEmbedder
from edge.faces.pairs import Pair, read_pairs
from edge.images import read_image
from edge.metrics import rank1


class FaceSource:
    """Reads and detects each picture once; embedders with other crops (`faces eval --sweep`) then reuse the face.
    Only the region around the face is kept (2.5x the box), so a sweep over large photos stays small."""

    def __init__(self, detector: FaceDetector):
        self.detector = detector
        self._faces: dict[str, tuple | None] = {}

    def face(self, path: Path):
        """(image, Detections of the most confident face or an empty one) or None when the file cannot be read."""
        key = str(path)
        if key not in self._faces:
            self._faces[key] = self._load(Path(path))
        return self._faces[key]

    def _load(self, path: Path):
        try:
            image = read_image(path)
        except EdgekitError:
            return None
        dets = self.detector.detect(image)
        if not len(dets):
            return image, dets
        dets = dets[int(np.argmax(dets.scores))]
        x1, y1, x2, y2 = dets.boxes[0]
        half = max(x2 - x1, y2 - y1) * 1.25
        left, top = int(max(0, (x1 + x2) / 2 - half)), int(max(0, (y1 + y2) / 2 - half))
        region = image[top : int((y1 + y2) / 2 + half) + 1, left : int((x1 + x2) / 2 + half) + 1].copy()
        shift = np.array([left, top], np.float32)
        return region, dets.with_(boxes=dets.boxes - np.tile(shift, 2), keypoints=dets.keypoints - shift)


def embed_file(detector, embedder: FaceEmbedder, path: Path, whole_if_none: bool = False):
    """Embedding of the most confident face in the picture (None if no face / unreadable). `detector` may be a
    FaceDetector or a FaceSource (which remembers its detections)."""
    source = detector if isinstance(detector, FaceSource) else FaceSource(detector)
    face = source.face(path)
    if face is None:
        return None
    image, dets = face
    if not len(dets):
        if not whole_if_none:
            return None
        return embedder.embed_crop(image)  # pre-cropped face sets (AT&T): the picture is the face
    return embedder.embed(image, dets)[0]


def pair_scores(detector, embedder, pairs_path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(cosine similarity per usable pair, same-person flag, pairs left out: no face or unreadable picture)."""
    return score_pairs(
        read_pairs(pairs_path), lambda path: embed_file(detector, embedder, path), lambda x, y: float(x @ y)
    )


def score_pairs(pairs: list[Pair], encode, score) -> tuple[np.ndarray, np.ndarray, int]:
    """Each picture encoded once (`encode(path)`, None when unusable); `score(x, y)` of each usable pair."""
    cache: dict[Path, object] = {}
    for p in pairs:
        for f in (p.a, p.b):
            if f not in cache:
                cache[f] = encode(f)
    used = [p for p in pairs if cache[p.a] is not None and cache[p.b] is not None]
    scores = np.asarray([score(cache[p.a], cache[p.b]) for p in used])
    return scores, np.asarray([p.same for p in used], bool), len(pairs) - len(used)


def verification_report(scores: np.ndarray, same: np.ndarray, threshold: float | None = None) -> dict:
    """AUC, best accuracy, TAR at FAR and accuracy at `threshold` (see edge.faces.calibrate.report)."""
    from edge.faces.calibrate import report

    return report(scores, same, threshold)


def identification(detector, embedder, root: Path) -> dict:
    """Rank-1 with one enrolled picture per identity (its first), and with all but one (leave-one-out)."""
    from edge.faces.calibrate import identity_vectors

    v, ids = identity_vectors(detector, embedder, root)
    first = np.zeros(len(ids), bool)
    first[np.unique(ids, return_index=True)[1]] = True
    one = rank1(v[first], ids[first], v[~first], ids[~first])
    # all but one: each picture is the probe once, every other picture (its identity's others included) the gallery
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    loo = float((ids[np.argmax(sims, 1)] == ids).mean())
    return {
        "identities": int(len(np.unique(ids))),
        "images": int(len(ids)),
        "rank1_one_enrolled": round(one, 4),
        "rank1_all_but_one": round(loo, 4),
    }


def peer_pair_scores(pairs_path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """face_recognition's distances on the same pairs (its HOG detector and dlib ResNet encoding)."""
    from edge import peer

    fr = peer.load()

    def encode(path: Path):
        try:
            return peer.encode_largest(fr, read_image(path))
        except EdgekitError:
            return None

    return score_pairs(read_pairs(pairs_path), encode, lambda x, y: float(np.linalg.norm(x - y)))
