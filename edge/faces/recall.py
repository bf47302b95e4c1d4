"""Detector recall on photos known to hold a face: every LFW photo (13,233, each centred on a named person), and
false faces on one-person sets (AT&T, face-api.js BBT: one person per picture, so a second face is a false one).

Each detector runs once per photo at the lowest score asked for; the detections' scores are kept, so every threshold
is read off the same run. A second pass (`zoom`) runs the detector again on the central part of a photo where the
first pass found nothing, enlarged to the detector's input: faces that fill too little of the frame, or that the
letterboxed full frame shrank too far, get more pixels."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.errors import EdgekitError
from edge.images import list_images, read_image


@dataclass
class Found:
    scores: list = field(default_factory=list)  # per photo: the scores of its faces (first pass)
    zoom_scores: list = field(default_factory=list)  # per photo: the best score of the second pass (0: none / not run)
    names: list = field(default_factory=list)


def centre_zoom(image: np.ndarray, share: float) -> np.ndarray:
    """The central `share` of the photo (each side), for the second pass."""
    h, w = image.shape[:2]
    ch, cw = max(1, int(h * share)), max(1, int(w * share))
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[top : top + ch, left : left + cw]


def run(detector, photos: list[Path], root: Path, zoom: float | None, label: str, zoom_below: float = 1.0) -> Found:
    from tqdm import tqdm

    out = Found()
    for p in tqdm(photos, desc=label, unit="photo", file=sys.stderr, mininterval=2.0):
        try:
            image = read_image(p)
        except EdgekitError:
            continue
        dets = detector.detect(image)
        out.names.append(str(p.relative_to(root)))
        out.scores.append(np.sort(dets.scores)[::-1].astype(float).tolist())
        best = 0.0
        if zoom and (not len(dets) or float(dets.scores.max()) < zoom_below):  # below the strictest threshold asked
            again = detector.detect(centre_zoom(image, zoom))
            best = float(again.scores.max()) if len(again) else 0.0
        out.zoom_scores.append(best)
    return out


def summary(found: Found, threshold: float, zoom_used: bool) -> dict:
    """Photos without a face at `threshold`, with several, and (second pass) still without one."""
    top = np.asarray([s[0] if s else 0.0 for s in found.scores])
    n = np.asarray([sum(v >= threshold for v in s) for s in found.scores])
    missed = top < threshold
    r = {"photos": int(len(top)), "without_a_face": int(missed.sum()), "with_several_faces": int((n > 1).sum())}
    if zoom_used:
        still = missed & (np.asarray(found.zoom_scores) < threshold)
        r["without_a_face_after_zoom"] = int(still.sum())
        r["misses"] = [found.names[i] for i in np.flatnonzero(still)]
    else:
        r["misses"] = [found.names[i] for i in np.flatnonzero(missed)]
    return r


def photo_sets(shared_faces: Path) -> dict[str, tuple[Path, list[Path]]]:
    """name -> (root, photos): LFW's every photo, and the one-person sets that are present."""
    sets = {}
    for name, sub in (("lfw", "lfw/images"), ("att", "att"), ("faceapi_bbt", "faceapi_bbt/identities")):
        root = shared_faces / sub
        if root.is_dir():
            sets[name] = (root, list_images(root))
    if not sets:
        raise EdgekitError(
            f"faces data {shared_faces}: no lfw, att or faceapi_bbt in it", "pass --data with the shared faces folder"
        )
    return sets
