"""Motion in a frame: a small grey copy against a background model (by default a running average, OpenCV's
accumulateWeighted: 0.03 ms per 160x120 frame here, 25x cheaper than the MOG2 subtractor; MOG2 and KNN model noisy
pixels better), masked polygons ignored, moving regions as boxes in frame pixels. The site config's `motion` section
(MotionConfig) sets it up; the loop's motion gate (edge.loop.motion) decides from it when the detector runs."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.errors import EdgekitError
from edge.vision.zones import as_polygon


class MotionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["average", "mog2", "knn"] = "average"
    width: int = Field(160, ge=32, description="motion is measured on a grey copy this many pixels wide")
    # pixel sensitivity, lower = more sensitive: grey levels from the average (default 25), MOG2's varThreshold
    # (default 16) or KNN's dist2Threshold (default 400)
    threshold: float | None = Field(None, gt=0)
    min_area: float = Field(0.002, ge=0, lt=1, description="a moving region must cover this fraction of the frame")
    history: int = Field(100, ge=1, description="frames the background model remembers")
    # a change over this share of the frame (lights, a camera that moved, a scene cut) is motion once, and the
    # background restarts from that frame instead of reporting motion until the old one fades
    reset_share: float = Field(0.4, gt=0, le=1)
    keepalive_frames: int = Field(15, ge=1, description="without motion the detector still runs every N frames")
    hold_frames: int = Field(15, ge=0, description="while tracking: every frame for N frames after motion stopped")
    search_every: int = Field(3, ge=1, description="motion but nothing tracked: the detector runs every N frames")
    idle_every: int = Field(3, ge=1, description="nothing moving: motion is checked (and the frame decoded) every N")
    # polygons [[x, y], ...] in frame pixels whose motion is ignored (a street behind the porch, a clock on the shelf)
    masks: list[list[tuple[float, float]]] = []
    # detect on the crop around the motion (and the live tracks) instead of the whole frame shrunk to the model
    # input: a face 25 px wide in 640x480 was found in 100 of 117 moving frames this way, 3 of 117 on the whole frame
    regions: bool = True
    region_margin: float = Field(0.25, ge=0, description="the crop grows by this fraction of its size on each side")

    @field_validator("masks")
    @classmethod
    def _polygons(cls, masks):
        for i, points in enumerate(masks):
            try:
                as_polygon(points, f"mask {i}")
            except EdgekitError as e:
                raise ValueError(e.what.replace("zone ", "")) from None
        return masks


class MotionDetector:
    """Moving regions of a frame, as boxes in frame pixels. Buffers are allocated once per frame size."""

    def __init__(self, cfg: MotionConfig):
        self.cfg = cfg
        self.shape: tuple[int, int] | None = None
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))

    def _setup(self, h: int, w: int) -> None:
        c = self.cfg
        sw = min(c.width, w)
        sh = max(8, round(h * sw / w))
        self.shape, self.scale = (h, w), (w / sw, h / sh)
        self.average = None  # float32 running average (method average), set from the first frame
        if c.method == "average":
            self.subtractor = None
        elif c.method == "mog2":
            self.subtractor = cv2.createBackgroundSubtractorMOG2(c.history, c.threshold or 16.0, False)
        else:
            self.subtractor = cv2.createBackgroundSubtractorKNN(c.history, c.threshold or 400.0, False)
        self.small = np.empty((sh, sw, 3), np.uint8)
        self.grey = np.empty((sh, sw), np.uint8)
        self.fg = np.empty((sh, sw), np.uint8)
        self.mask = None
        if c.masks:
            self.mask = np.full((sh, sw), 255, np.uint8)
            polys = [np.round(np.asarray(p, np.float32) / self.scale).astype(np.int32) for p in c.masks]
            cv2.fillPoly(self.mask, polys, 0)
        self.min_px = c.min_area * sw * sh

    def regions(self, frame: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """(N, 4) float32 x1y1x2y2 boxes of the moving regions (empty when nothing moves); `size`: (width, height)
        of the full frame when `frame` is a reduced grey copy of it (boxes are in full-frame pixels)."""
        w, h = size or (frame.shape[1], frame.shape[0])
        if self.shape != (h, w):
            self._setup(h, w)  # a new size: a new background (the old one was of other pixels)
        sh, sw = self.grey.shape
        if frame.ndim == 3:
            # linear, not area: 0.3 vs 2-4 ms from 640-768 px here; aliasing repeats frame to frame, so it is no motion
            cv2.resize(frame, (sw, sh), dst=self.small, interpolation=cv2.INTER_LINEAR)
            cv2.cvtColor(self.small, cv2.COLOR_BGR2GRAY, dst=self.grey)
        else:
            cv2.resize(frame, (sw, sh), dst=self.grey, interpolation=cv2.INTER_LINEAR)
        if self.subtractor is None:
            self._average_fg()
        else:
            self.subtractor.apply(self.grey, self.fg)
        if self.mask is not None:
            cv2.bitwise_and(self.fg, self.mask, dst=self.fg)
        if cv2.countNonZero(self.fg) > self.cfg.reset_share * sw * sh:
            self._restart()
            return np.array([[0, 0, w, h]], np.float32)
        cv2.morphologyEx(self.fg, cv2.MORPH_OPEN, self.kernel, dst=self.fg)  # single-pixel noise is not motion
        contours, _ = cv2.findContours(self.fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        rects = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) >= self.min_px]
        if not rects:
            return np.zeros((0, 4), np.float32)
        r = np.asarray(rects, np.float32)
        boxes = np.stack([r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]], 1)
        return boxes * np.array(self.scale * 2, np.float32)

    def _restart(self) -> None:
        """The background is this frame from now on."""
        if self.subtractor is None:
            self.average[:] = self.grey
        else:
            self.subtractor.apply(self.grey, self.fg, 1.0)  # learning rate 1: the model re-initialised from it

    def _average_fg(self) -> None:
        """Foreground = pixels further than `threshold` grey levels from a running average of the past frames."""
        if self.average is None:
            self.average = self.grey.astype(np.float32)
            self.background = np.empty_like(self.grey)
        cv2.convertScaleAbs(self.average, dst=self.background)
        cv2.absdiff(self.grey, self.background, dst=self.fg)
        cv2.threshold(self.fg, self.cfg.threshold or 25.0, 255, cv2.THRESH_BINARY, dst=self.fg)
        cv2.accumulateWeighted(self.grey, self.average, 2.0 / (self.cfg.history + 1))
