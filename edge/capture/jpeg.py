"""A frame still in its JPEG bytes (MJPG files, read as packets by edge.capture.opencv), decoded only as far
as it is needed: a grey copy at 1/2, 1/4 or 1/8 size straight from the DCT for motion (libjpeg's scaled decode:
0.26 ms vs 0.56 ms for the full BGR frame of a 640x480 MJPG here), the full frame only for the frames an app
processes. Nothing but the frame loop and LatestFrame see one; apps always get a decoded array."""

from __future__ import annotations

import cv2
import numpy as np

# libjpeg's scaled decodes, smallest first
_REDUCED_GREY = (
    (8, cv2.IMREAD_REDUCED_GRAYSCALE_8),
    (4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
    (2, cv2.IMREAD_REDUCED_GRAYSCALE_2),
)


class JpegFrame:
    def __init__(self, data: np.ndarray, size: tuple[int, int]):
        self.data = data  # the compressed frame (uint8, as the capture handed it over)
        self.size = size  # (width, height) of the full frame, from the capture
        self._full: np.ndarray | None = None

    def decoded(self) -> np.ndarray | None:
        """The full BGR frame (decoded once; None: the JPEG is broken)."""
        if self._full is None:
            self._full = cv2.imdecode(self.data, cv2.IMREAD_COLOR)
        return self._full

    def grey(self, width: int) -> np.ndarray | None:
        """A grey copy at least `width` pixels wide (the largest reduction that still is), decoded from the bytes
        even when the full frame exists, so motion sees the same pixels either way. None: the JPEG is broken."""
        for factor, flag in _REDUCED_GREY:
            if -(-self.size[0] // factor) >= width:
                return cv2.imdecode(self.data, flag)
        return cv2.imdecode(self.data, cv2.IMREAD_GRAYSCALE)


def decoded(image) -> np.ndarray | None:
    """An array as it is, a JpegFrame decoded."""
    return image.decoded() if isinstance(image, JpegFrame) else image
