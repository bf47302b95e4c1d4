"""Motion gating, for every app (the `motion` section of the site config): the detector runs on frames with motion
(edge.vision.motion), for `hold_frames` after it, and every `keepalive_frames` otherwise, so a still face is seen again
now and then and its track lives on (the tracker counts misses per detector run, not per frame). Frames the gate
holds back go to the app's `idle` instead of `process`."""
from __future__ import annotations

import numpy as np

from edge.vision.motion import MotionConfig, MotionDetector

# why a frame was (or was not) given to the detector
MOTION, HOLD, KEEPALIVE, STILL = "motion", "hold", "keepalive", "still"


class MotionGate:
    """Per frame: should the detector run (`check`), and on which moving boxes (`boxes`, None = the whole frame)."""

    def __init__(self, cfg: MotionConfig):
        self.cfg = cfg
        self.detector = MotionDetector(cfg)
        self.boxes: np.ndarray | None = None
        self._since_detect = self._since_motion = 10**9
        self.counts = {MOTION: 0, HOLD: 0, KEEPALIVE: 0, STILL: 0}

    def check(self, frame: np.ndarray) -> bool:
        moving = self.detector.regions(frame)
        if len(moving):
            self._since_motion, reason = 0, MOTION
        else:
            self._since_motion += 1
            if self._since_motion <= self.cfg.hold_frames:
                reason = HOLD
            elif self._since_detect + 1 >= self.cfg.keepalive_frames:
                reason = KEEPALIVE
            else:
                reason = STILL
        self.counts[reason] += 1
        self.reason = reason
        self.boxes = moving if reason == MOTION and self.cfg.regions else None
        self._since_detect = self._since_detect + 1 if reason == STILL else 0
        return reason != STILL

    def stats(self) -> dict:
        """Frames by decision; `detector_share`: the fraction of frames the detector ran on."""
        total = sum(self.counts.values())
        return {**self.counts, "detector_share": round(1 - self.counts[STILL] / max(total, 1), 3)}
