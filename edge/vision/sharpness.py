"""How sharp a face is: the variance of the Laplacian of the picture in grey, resized to one scale first (48x48), so a
bigger face is not "sharper" just by having more pixels. The tracker compares it between frames (re-embed a face that
got sharper); enrolment refuses a face below a floor."""

from __future__ import annotations

import cv2
import numpy as np

SHARPNESS_SIZE = 48


def sharpness(image: np.ndarray) -> float:
    """High for a crisp face, low for motion blur or defocus. `image`: BGR or grey, any size."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 and image.shape[2] == 3 else image
    small = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(small, cv2.CV_64F).var())
