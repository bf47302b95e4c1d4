"""Detection on part of a frame: the crop around given boxes (the motion gate's moving regions), shaped like the
model input so the detector's resize upscales it instead of shrinking the whole frame, and the detections mapped
back to frame pixels. Worth it where the whole frame would shrink faces below what the detector finds."""

from __future__ import annotations

import numpy as np

from edge.vision.detections import Detections

WHOLE_FRAME_SHARE = 0.5  # a crop over half the frame saves nothing: the whole frame is detected instead


def region_crop(
    boxes: np.ndarray, frame_w: int, frame_h: int, aspect: float, margin: float, min_side: int = 0
) -> tuple[int, int, int, int] | None:
    """x1, y1, x2, y2 of the crop around the union of `boxes` grown by `margin`, widened to width/height `aspect`
    and at least `min_side` tall, inside the frame; None when the whole frame is the better choice."""
    if not len(boxes):
        return None
    x1, y1 = boxes[:, 0].min(), boxes[:, 1].min()
    x2, y2 = boxes[:, 2].max(), boxes[:, 3].max()
    w, h = (x2 - x1) * (1 + 2 * margin), (y2 - y1) * (1 + 2 * margin)
    h = max(h, w / aspect, min_side)
    w = h * aspect
    if w * h >= WHOLE_FRAME_SHARE * frame_w * frame_h or w >= frame_w or h >= frame_h:
        return None
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = int(np.clip(cx - w / 2, 0, frame_w - w))
    top = int(np.clip(cy - h / 2, 0, frame_h - h))
    return left, top, left + int(round(w)), top + int(round(h))


def shifted(dets: Detections, dx: float, dy: float) -> Detections:
    """Detections of a crop at (dx, dy) in the pixels of the frame it was cut from."""
    if not len(dets):
        return dets
    kp = None if dets.keypoints is None else dets.keypoints + np.array([dx, dy], np.float32)
    return dets.with_(boxes=dets.boxes + np.array([dx, dy, dx, dy], np.float32), keypoints=kp)


def detect_around(
    detect, image: np.ndarray, boxes: np.ndarray | None, input_size: tuple[int, int], margin: float
) -> Detections:
    """`detect(image)` on the crop around `boxes` (None or a crop too big: the whole frame), in frame pixels."""
    h, w = image.shape[:2]
    crop = None if boxes is None else region_crop(boxes, w, h, input_size[0] / input_size[1], margin, input_size[1])
    if crop is None:
        return detect(image)
    x1, y1, x2, y2 = crop
    return shifted(detect(image[y1:y2, x1:x2]), x1, y1)
