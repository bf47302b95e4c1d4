"""Square crops around a box, enlarged by a margin, padded with edge pixels where they leave the frame."""
from __future__ import annotations

import cv2
import numpy as np


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
    return image[top: top + s, left: left + s]
