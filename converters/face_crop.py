"""Cut the largest face out of a photo with a built face detector (for embedder calibration and the pair gate)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import EdgekitError


def face_crop_from(detector_card: Path, params: dict):
    from edge.faces.detector import FaceDetector
    from edge.vision.align import loose_crop

    if not Path(detector_card).is_file():
        raise EdgekitError(f"face detector card {detector_card}: not built", "build the detector first: `edgekit models build blazeface_short`")
    detector = FaceDetector(detector_card)
    margin = float(params.get("margin", 1.3))

    def crop(image: np.ndarray) -> np.ndarray | None:
        dets = detector.detect(image)
        if not len(dets):
            return None
        return loose_crop(image, dets.boxes[int(np.argmax(dets.areas))], margin)

    return crop
