"""Enrollment: only clear pictures of exactly one face go into the gallery; each rejection says why."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.faces.detector import FaceDetector
from edge.faces.embedder import FaceEmbedder


@dataclass
class EnrollRules:
    min_face_px: int = 48  # face box width in the source picture
    min_sharpness: float = 15.0  # variance of the Laplacian of the 112x112 grey face crop
    min_score: float = 0.6  # detector confidence


def sharpness(crop: np.ndarray) -> float:
    grey = cv2.cvtColor(cv2.resize(crop, (112, 112), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def check_and_embed(detector: FaceDetector, embedder: FaceEmbedder, image: np.ndarray, rules: EnrollRules) -> tuple[np.ndarray | None, str]:
    """(embedding, 'ok') or (None, reason)."""
    dets = detector.detect(image)
    dets = dets[dets.scores >= rules.min_score]
    if len(dets) == 0:
        return None, "no face found"
    if len(dets) > 1:
        return None, f"{len(dets)} faces found, enrollment needs exactly one"
    width = float(dets.boxes[0, 2] - dets.boxes[0, 0])
    if width < rules.min_face_px:
        return None, f"face too small ({width:.0f} px wide, at least {rules.min_face_px} needed)"
    crop = embedder.crops(image, dets)[0]
    sharp = sharpness(crop)
    if sharp < rules.min_sharpness:
        return None, f"face too blurred (sharpness {sharp:.1f} < {rules.min_sharpness})"
    return embedder.embed_crop(crop), "ok"


def frames_from_video(path: str, every: int = 5, limit: int = 200):
    cap = cv2.VideoCapture(str(path))
    i = 0
    try:
        while i < limit * every:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                yield f"{path}#{i}", frame
            i += 1
    finally:
        cap.release()


def pick_diverse(vectors: list[np.ndarray], k: int) -> list[int]:
    """Up to k embeddings that differ most from each other (greedy farthest point), so a video adds views, not copies."""
    if len(vectors) <= k:
        return list(range(len(vectors)))
    v = np.stack(vectors)
    chosen = [0]
    dist = 1 - v @ v[0]
    for _ in range(k - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, 1 - v @ v[nxt])
    return chosen
