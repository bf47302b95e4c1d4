"""Enrollment: only clear pictures of exactly one face go into the gallery; each rejection says why."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.faces.detector import FaceDetector
from edge.faces.embedder import FaceEmbedder
from edge.vision.detections import Detections
from edge.vision.sharpness import sharpness


@dataclass
class EnrollRules:
    min_face_px: int = 48  # face box width in the source picture
    # edge.vision.sharpness of the embedder's face crop. 200 at 48x48 makes the decisions 15 made at the 112x112 scale
    # used before (505 of 515 crops: 65 real photos x 8 blur levels; the other 10 scored 12-17 there, on the line).
    min_sharpness: float = 200.0
    min_score: float = 0.6  # detector confidence of the face enrolled
    count_score: float = 0.5  # any face this likely counts as another person: a picture of two is refused


def _merge(near, far):
    """Faces of both detectors, each once: a far-model face whose centre lies in a near-model box is the same face."""
    if not len(far):
        return near
    if not len(near):
        return far
    cx, cy = (far.boxes[:, 0] + far.boxes[:, 2]) / 2, (far.boxes[:, 1] + far.boxes[:, 3]) / 2
    b = near.boxes
    inside = (
        (cx[:, None] > b[None, :, 0])
        & (cx[:, None] < b[None, :, 2])
        & (cy[:, None] > b[None, :, 1])
        & (cy[:, None] < b[None, :, 3])
    ).any(1)
    return Detections.concat([near, far[~inside]])


def check_and_embed(
    detector: FaceDetector,
    embedder: FaceEmbedder,
    image: np.ndarray,
    rules: EnrollRules,
    far_detector: FaceDetector | None = None,
) -> tuple[np.ndarray | None, str]:
    """(embedding, 'ok') or (None, reason). `far_detector` (BlazeFace full range) also counts small, distant faces:
    the short-range model alone misses people in the background, and a picture with two people must be refused."""
    dets = detector.detect(image)
    dets = dets[dets.scores >= rules.count_score]
    if far_detector is not None:
        far = far_detector.detect(image)
        dets = _merge(dets, far[far.scores >= rules.count_score])
    if len(dets) > 1:
        return None, f"{len(dets)} faces found, enrollment needs exactly one"
    if len(dets) == 0 or dets.scores[0] < rules.min_score:
        return None, "no face found" if not len(
            dets
        ) else f"no clear face (detector confidence {dets.scores[0]:.2f} < {rules.min_score})"
    width = float(dets.boxes[0, 2] - dets.boxes[0, 0])
    if width < rules.min_face_px:
        return None, f"face too small ({width:.0f} px wide, at least {rules.min_face_px} needed)"
    crop = embedder.crops(image, dets)[0]
    sharp = sharpness(crop)
    if sharp < rules.min_sharpness:
        return None, f"face too blurred (sharpness {sharp:.1f} < {rules.min_sharpness})"
    return embedder.embed_crop(crop), "ok"


def frames_from_video(path: str, every: int = 5, limit: int = 200):
    """(label, frame) for every `every`-th frame, at most `limit` of them; a file OpenCV cannot open is named."""
    from edge.images import video_frames

    for i, frame in video_frames(path, every, limit):
        yield f"{path}#{i}", frame


def pick_diverse(vectors: list[np.ndarray], k: int) -> list[int]:
    """Up to k embeddings that differ most from each other (greedy farthest point), so a video adds views, not
    copies."""
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


@dataclass
class Enrolment:
    vectors: list = field(default_factory=list)  # unit vectors kept
    sources: list = field(default_factory=list)  # where each came from (file name or video#frame)
    rejected: list = field(default_factory=list)  # (source, reason)


def enrol_pictures(
    detector: FaceDetector,
    embedder: FaceEmbedder,
    inputs,
    rules: EnrollRules,
    max_views: int | None = None,
    far_detector: FaceDetector | None = None,
) -> Enrolment:
    """Check every (label, image-or-path) input; keep the accepted embeddings (the `max_views` most varied ones when
    given, for video frames). Unreadable files are rejected with the reader's reason, like faces that fail the rules."""
    from edge.errors import EdgekitError
    from edge.images import read_image

    out = Enrolment()
    for label, image in inputs:
        try:
            image = read_image(label) if image is None else image
        except EdgekitError as e:
            out.rejected.append((label, str(e)))
            continue
        vec, why = check_and_embed(detector, embedder, image, rules, far_detector)
        if vec is None:
            out.rejected.append((label, why))
        else:
            out.vectors.append(vec)
            out.sources.append(label)
    if max_views is not None:
        keep = pick_diverse(out.vectors, max_views)
        out.vectors, out.sources = [out.vectors[i] for i in keep], [out.sources[i] for i in keep]
    return out
