"""Cut the largest face out of a photo with a built face detector, exactly as the device does (the device's
FaceDetector, then the box, eye-level or template crop from the embedder card's decoder params), for embedder
calibration and the pair gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import EdgekitError
from edge.faces.detector import FaceDetector
from edge.vision.crop import face_crop


def face_crop_from(detector_card: Path, params: dict, size: int):
    if not Path(detector_card).is_file():
        raise EdgekitError(
            f"face detector card {detector_card}: not built",
            "build the detector first: `edgekit models build blazeface_short`",
        )
    detector = FaceDetector(detector_card)
    margin, mode = float(params.get("margin", 1.3)), params.get("crop", "box")

    def crop(image: np.ndarray, pick: str = "largest") -> np.ndarray | None:
        """The largest face, or with pick="central" the one nearest the image centre (LFW's subject)."""
        from edge.faces.lfw import central_face

        dets = detector.detect(image)
        if not len(dets):
            return None
        i = central_face(dets.boxes, image.shape) if pick == "central" else int(np.argmax(dets.areas))
        kps = None if dets.keypoints is None else dets.keypoints[i]
        return face_crop(image, dets.boxes[i], kps, margin, size, mode, params.get("fit"))

    return crop
