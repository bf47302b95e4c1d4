"""Frame checks before an app sees a frame: valid dtype/shape/size (else one `frame_rejected` per new problem, then
at most one per 10 s while it lasts), grey made BGR, a change of resolution noticed; and the newest accepted frame
kept for the parts that read it from other threads (snapshots, a model update's smoke test). A JpegFrame (MJPEG
packets, edge.capture.jpeg) is checked by its size and decoded only when something needs its pixels."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np

from edge.capture.base import check_frame, size_problem
from edge.capture.jpeg import JpegFrame, decoded
from edge.events.types import Event, FrameRejected, FrameSizeChanged


class LatestFrame:
    """The newest accepted frame and its meta (a reference, replaced whole: readers on other threads see one pair;
    a frame still in JPEG is decoded by the reader)."""

    def __init__(self):
        self.value: tuple[np.ndarray | JpegFrame, dict] | None = None

    def get(self) -> tuple[np.ndarray, dict] | None:
        got = self.value
        image = decoded(got[0]) if got is not None else None
        return (image, got[1]) if image is not None else None

    def images(self) -> list[np.ndarray]:
        got = self.get()
        return [got[0]] if got is not None else []


class FrameCheck:
    REJECT_REPEAT_S = 10.0

    def __init__(self, expected_size: tuple[int, int] | None, emit: Callable[[Event], object]):
        self.expected, self.emit = expected_size, emit
        self.size: tuple[int, int] | None = None
        self.rejected = 0
        self._last_problem, self._last_report, self._since_report = None, float("-inf"), 0

    def accept(self, image: np.ndarray | JpegFrame, meta: dict) -> tuple[np.ndarray | JpegFrame | None, bool]:
        """(the frame as the models take it, or None if rejected; whether the frame size changed). A JpegFrame stays
        one: only its size is checked here (`decode` when the pixels are needed)."""
        jpeg = isinstance(image, JpegFrame)
        problem = size_problem(image.size, self.expected) if jpeg else check_frame(image, self.expected)
        if problem:
            self._reject(problem, meta)
            return None, False
        if not jpeg and (image.ndim == 2 or image.shape[2] == 1):  # grey cameras: the models take three channels
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        size = image.size if jpeg else (image.shape[1], image.shape[0])
        resized = self.size is not None and size != self.size
        if resized:
            self.emit(FrameSizeChanged(old=list(self.size), new=list(size), **meta))
        self.size = size
        return image, resized

    def decode(self, image: np.ndarray | JpegFrame, meta: dict) -> np.ndarray | None:
        """The pixels of an accepted frame; a JPEG that does not decode is rejected here."""
        if not isinstance(image, JpegFrame):
            return image
        full = image.decoded()
        if full is None or full.shape[:2] != image.size[::-1]:
            self._reject("JPEG frame does not decode (a damaged packet)", meta)
            return None
        return full

    def _reject(self, problem: str, meta: dict) -> None:
        """`frames`: frames rejected since the previous report, this one included."""
        self.rejected += 1
        self._since_report += 1
        now = time.monotonic()
        if problem != self._last_problem or now - self._last_report >= self.REJECT_REPEAT_S:
            self.emit(FrameRejected(reason=problem, frames=self._since_report, **meta))
            self._last_problem, self._last_report, self._since_report = problem, now, 0
