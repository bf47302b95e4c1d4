"""Canonical face chips that embedders were trained on: where the detector's keypoints land in the embedder's input.

Each template gives, in output pixels for its own size, the target of BlazeFace's four facial keypoints
(0 the subject's right eye = image left, 1 left eye, 2 nose tip, 3 mouth centre); `fit` picks the keypoints a
similarity transform is fitted to (cv2.estimateAffinePartial2D, least squares). BlazeFace has no eye corners or mouth
corners, so each template's points are the matching points of the face model the embedder's own aligner used:

- dlib_chip (150x150, padding 0.25): measured, not assumed. dlib's 5-point landmarks define the chip
  (dlib.get_face_chip_details, what face_recognition feeds the same ResNet) for the first photo of 1100 LFW View 1
  training people; BlazeFace short INT8, run on the whole photo as the device runs it, put its keypoints at these
  means once mapped onto dlib's chip (std 5-6 px for the eyes and mouth, 7-10 px for the nose tip, which moves with
  yaw): `scripts/dlib_chip_template.py`. The previous points came from BlazeFace run again on dlib's chips
  (black-bordered, another scale): 1-2 px off in the eye distance and the mouth; on LFW View 2 with mirroring 99.28%
  vs 99.07%, tied on View 1 (docs/benchmarks.md).
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


# scripts/dlib_chip_template.py (2026-12-02, blazeface_short INT8, 1097 of 1100 LFW View 1 training photos: HOG
# found no face in 3)
_DLIB_CHIP = ((48.559, 43.228), (106.206, 43.371), (77.903, 74.664), (75.612, 107.099))

_ARCFACE = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041))

TEMPLATES = {
    # fitted to the eyes and the mouth: on LFW (dlib_resnet INT8, mirrored, 10 folds) 99.28% vs 99.15% with the nose
    # tip too (TAR at FAR 1e-3 0.975 vs 0.929; docs/benchmarks.md); the nose tip moves with yaw
    "dlib_chip": FaceTemplate("dlib_chip", 150, _DLIB_CHIP, fit=(0, 1, 3)),
    # eyes and mouth here too: MobileFaceNet-ArcFace INT8 on LFW 99.10% vs 98.97% with the nose tip
    "arcface_112": FaceTemplate(
        "arcface_112",
        112,
        (
            _ARCFACE[0],
            _ARCFACE[1],
            _ARCFACE[2],
            ((_ARCFACE[3][0] + _ARCFACE[4][0]) / 2, (_ARCFACE[3][1] + _ARCFACE[4][1]) / 2),
        ),
        fit=(0, 1, 3),
    ),
}
