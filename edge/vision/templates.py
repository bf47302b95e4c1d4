"""Canonical face chips that embedders were trained on: where the detector's keypoints land in the embedder's input.

Each template gives, in output pixels for its own size, the target of BlazeFace's four facial keypoints
(0 the subject's right eye = image left, 1 left eye, 2 nose tip, 3 mouth centre); `fit` picks the keypoints a
similarity transform is fitted to (cv2.estimateAffinePartial2D, least squares). BlazeFace has no eye corners or mouth
corners, so each template's points are the matching points of the face model the embedder's own aligner used:

- dlib_chip (150x150, padding 0.25): dlib's get_face_chip_details maps its landmarks onto a mean face shape
  (the 68-point one, whose 5-point version the face_recognition library uses); the eye centres are the mean of each
  eye's six mean-face points (36-41, 42-47), the nose tip point 30, the mouth centre the mean of points 62 and 66;
  chip = (padding + p) / (1 + 2 padding) * size.
- arcface_112 (112x112): InsightFace's 5-point template; the mouth centre is the mean of its two mouth corners."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FaceTemplate:
    name: str
    size: int
    points: tuple  # ((x, y) x 4) in output pixels at `size`
    fit: tuple = (0, 1, 2, 3)  # which keypoints the similarity is fitted to

    def target(self, size: int, fit=None) -> tuple[np.ndarray, tuple]:
        """(points scaled to an output of `size` pixels, indices used)."""
        idx = tuple(fit) if fit is not None else self.fit
        return np.asarray(self.points, np.float32)[list(idx)] * (size / self.size), idx


def _dlib_chip(size: int = 150, padding: float = 0.25) -> tuple:
    mean_face = ((0.225492, 0.215990), (0.755510, 0.215990), (0.490127, 0.515625), (0.490127, 0.808573))
    return tuple(((padding + x) / (1 + 2 * padding) * size, (padding + y) / (1 + 2 * padding) * size) for x, y in mean_face)


_ARCFACE = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041))

TEMPLATES = {
    "dlib_chip": FaceTemplate("dlib_chip", 150, _dlib_chip()),
    "arcface_112": FaceTemplate("arcface_112", 112, (_ARCFACE[0], _ARCFACE[1], _ARCFACE[2],
                                                     ((_ARCFACE[3][0] + _ARCFACE[4][0]) / 2, (_ARCFACE[3][1] + _ARCFACE[4][1]) / 2))),
}
