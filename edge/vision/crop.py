"""Crops: a box grown by a margin (`box_crop`, clipped; `square_crop`, padded with edge pixels) and the face crop the
embedder sees (`face_crop`), made in one of three ways (the embedder card's `decoder.params.crop` picks):

- "box": the square around the detector's box, enlarged by `margin` (what FaceRes saw in training: a detector box);
- "aligned": the same square, rotated about its centre so the eyes are level (a similarity transform whose rotation
  comes from the eye keypoints and whose scale and centre come from the box);
- "template": the similarity transform (least squares over eyes, nose and mouth, cv2.estimateAffinePartial2D) that
  puts the keypoints on a canonical template, so scale and centre follow the face itself, not the box;
- a named chip from edge.vision.templates ("dlib_chip", "arcface_112"): the same fit onto the chip the embedder was
  trained on (its own size and padding; `margin` does not apply; `fit` picks the keypoints).

Measured on the deepface pairs (docs/benchmarks.md, "Face accuracy"): "template" x1.3 wins for FaceRes."""

from __future__ import annotations

import cv2
import numpy as np

from edge.errors import EdgekitError
from edge.vision.templates import TEMPLATES

CROPS = ("box", "aligned", "template", *TEMPLATES)

# Where BlazeFace's keypoints (0 right eye, 1 left eye - the subject's -, 2 nose tip, 3 mouth centre) sit, as fractions
# of its square box, on a level, left-right symmetric face: the mean over the 40 face-api.js BBT faces (BlazeFace short
# INT8), eyes levelled and mirrored about the middle. Not from the deepface photos, which measure it. Mapping faces onto
# it keeps the framing the embedder sees with "box" crops while removing roll, scale and offset jitter.
TEMPLATE = np.array([[0.292, 0.285], [0.708, 0.285], [0.500, 0.522], [0.500, 0.730]], np.float32)


def crop_mode(crop: bool | str) -> str:
    """A crop name from CROPS; a bool is the config's short form (True = "aligned", False = "box")."""
    mode = ("aligned" if crop else "box") if isinstance(crop, bool) else str(crop)
    if mode not in CROPS:
        raise EdgekitError(f"face crop '{mode}' is unknown", f"set the embedder's crop to one of: {', '.join(CROPS)}")
    return mode


def face_crop(
    image: np.ndarray,
    box: np.ndarray,
    keypoints: np.ndarray | None,
    margin: float,
    size: int,
    crop: bool | str,
    fit=None,
) -> np.ndarray:
    """size x size crop; `crop` as in crop_mode; `fit`: named chips' keypoints (default: the template's). Without
    keypoints every mode falls back to "box"."""
    mode = crop_mode(crop)
    if mode == "box" or keypoints is None:
        return cv2.resize(square_crop(image, box, margin), (size, size), interpolation=cv2.INTER_AREA)
    if mode in TEMPLATES:
        m = chip_matrix(keypoints, TEMPLATES[mode], size, fit)
    elif mode == "aligned":
        m = eye_level_matrix(box, keypoints, margin, size)
    else:
        m = template_matrix(keypoints, margin, size)
    if m is None:  # degenerate keypoints (all on one spot): the box is still a face
        return cv2.resize(square_crop(image, box, margin), (size, size), interpolation=cv2.INTER_AREA)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def chip_matrix(keypoints: np.ndarray, template, size: int, fit=None) -> np.ndarray | None:
    """2x3 similarity taking the chosen keypoints onto a named chip template (edge.vision.templates), at `size`."""
    dst, idx = template.target(size, fit)
    src = np.asarray(keypoints, np.float32)[list(idx)]
    m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1e6)
    return m


def eye_level_matrix(box: np.ndarray, keypoints: np.ndarray, margin: float, size: int) -> np.ndarray:
    """2x3 matrix: rotate about the box centre so the eyes are level, scale the enlarged box side to `size`."""
    (x1, y1, x2, y2), (ex1, ey1), (ex2, ey2) = box, keypoints[0], keypoints[1]
    angle = np.degrees(np.arctan2(ey2 - ey1, ex2 - ex1))
    side = max(x2 - x1, y2 - y1) * margin
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle), size / max(float(side), 1.0))
    m[:, 2] += (size / 2 - centre[0], size / 2 - centre[1])  # move the box centre to the crop centre
    return m


def template_matrix(
    keypoints: np.ndarray, margin: float, size: int, template: np.ndarray | None = None
) -> np.ndarray | None:
    """2x3 similarity (rotation, uniform scale, shift) taking the 4 facial keypoints onto the template, least squares;
    None when the keypoints admit no transform."""
    template = TEMPLATE if template is None else np.asarray(template, np.float32)
    dst = ((template - 0.5) / margin + 0.5) * size
    src = np.asarray(keypoints[: len(template)], np.float32)
    # RANSAC with a threshold no point can miss keeps every point an inlier: the result is the least-squares fit
    m, _ = cv2.estimateAffinePartial2D(src, dst.astype(np.float32), method=cv2.RANSAC, ransacReprojThreshold=1e6)
    return m


def square_crop(image: np.ndarray, box: np.ndarray, margin: float = 1.3) -> np.ndarray:
    """The square of side max(w, h) * margin centred on box (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * margin
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(int(round(side)), 1)
    h, w = image.shape[:2]
    pad = max(0, -left, -top, left + s - w, top + s - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        left, top = left + pad, top + pad
    return image[top : top + s, left : left + s]


def box_crop(frame: np.ndarray, box: np.ndarray, margin: float) -> np.ndarray | None:
    """The box grown by `margin` of its size on each side, clipped to the frame; None if nothing is left."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    x1, y1 = int(max(0, np.floor(x1 - mx))), int(max(0, np.floor(y1 - my)))
    x2, y2 = int(min(w, np.ceil(x2 + mx))), int(min(h, np.ceil(y2 + my)))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return frame[y1:y2, x1:x2]
