"""Face crops for the embedder: a square around the detector's box, enlarged by a margin, optionally rotated so the
eyes are level (a similarity transform from the eye keypoints). Which one an embedder expects is in its card."""
from __future__ import annotations

import cv2
import numpy as np

from edge.vision.crop import square_crop


def face_crop(image: np.ndarray, box: np.ndarray, keypoints: np.ndarray | None, margin: float, size: int,
              align: bool) -> np.ndarray:
    """size x size crop. BlazeFace keypoints: 0 right eye, 1 left eye (image left/right), 2 nose, 3 mouth, 4-5 ears."""
    if not align or keypoints is None:
        return cv2.resize(square_crop(image, box, margin), (size, size), interpolation=cv2.INTER_AREA)
    (x1, y1, x2, y2), (ex1, ey1), (ex2, ey2) = box, keypoints[0], keypoints[1]
    angle = np.degrees(np.arctan2(ey2 - ey1, ex2 - ex1))
    side = max(x2 - x1, y2 - y1) * margin
    scale = size / max(side, 1.0)
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    m = cv2.getRotationMatrix2D(centre, angle, scale)
    m[:, 2] += (size / 2 - centre[0], size / 2 - centre[1])  # move the box centre to the crop centre
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
