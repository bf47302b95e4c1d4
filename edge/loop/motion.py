"""Motion gating, for every app (the `motion` section of the site config): the detector runs on frames with motion
(edge.vision.motion), and every `keepalive_frames` otherwise, so a still face is seen again now and then and its
track lives on (the tracker counts misses per detector run, not per frame). While the app tracks something (its
`tracking()`), every frame with motion and `hold_frames` after it are detected; while it tracks nothing, motion is
searched every `search_every` frames (3: a face is found at most 2 frames later than on every frame). While nothing
moves, only every `idle_every`-th frame is decoded at all (Capture.wanted). Frames the gate holds back go to the
app's `idle` instead of `process`."""

from __future__ import annotations

import numpy as np

from edge.capture.jpeg import JpegFrame
from edge.vision.motion import MotionConfig, MotionDetector

# why a frame was (or was not) given to the detector
MOTION, HOLD, KEEPALIVE = "motion", "hold", "keepalive"  # it runs
STILL, SEARCH = "still", "search"  # it does not: nothing moved / motion, nothing tracked, not this frame


class MotionGate:
    """Per frame: should the detector run (`check`), and on which moving boxes (`boxes`, None = the whole frame)."""

    def __init__(self, cfg: MotionConfig):
        self.cfg = cfg
        self.detector = MotionDetector(cfg)
        self.boxes: np.ndarray | None = None
        self._since_detect = self._since_motion = 10**9
        self.counts = {MOTION: 0, HOLD: 0, KEEPALIVE: 0, STILL: 0, SEARCH: 0}
        self.reason = KEEPALIVE
        self.undecoded = self._undecoded_run = 0

    def check(self, frame: np.ndarray | JpegFrame, tracking: bool = False) -> bool:
        """Whether the detector runs on this frame; `tracking`: the app follows something now (every frame counts
        then; otherwise motion is searched every `search_every` frames and nothing needs the hold)."""
        if isinstance(frame, JpegFrame):  # a grey copy decoded at 1/2-1/8 size; a broken JPEG shows no motion
            small = frame.grey(self.cfg.width)
            moving = self.detector.regions(small, frame.size) if small is not None else np.zeros((0, 4), np.float32)
        else:
            moving = self.detector.regions(frame)
        self._since_motion = 0 if len(moving) else self._since_motion + 1
        if len(moving):
            reason = MOTION if tracking or self._due(self.cfg.search_every) else SEARCH
        elif tracking and self._since_motion <= self.cfg.hold_frames:
            reason = HOLD
        else:
            reason = KEEPALIVE if self._due(self.cfg.keepalive_frames) else STILL
        self.counts[reason] += 1
        self.reason = reason
        self.boxes = moving if reason == MOTION and self.cfg.regions else None
        ran = reason not in (STILL, SEARCH)
        self._since_detect = 0 if ran else self._since_detect + 1
        return ran

    def wants_next(self) -> bool:
        """Capture asks before each frame (Capture.wanted, maybe from its grabber thread): while the scene is still,
        only every `idle_every`-th frame is decoded and checked; the rest count towards the keep-alive."""
        if self.reason != STILL or self._undecoded_run + 1 >= self.cfg.idle_every:
            self._undecoded_run = 0
            return True
        self._undecoded_run += 1
        self._since_detect += 1
        self.undecoded += 1
        return False

    def _due(self, every: int) -> bool:
        return self._since_detect + 1 >= every

    def stats(self) -> dict:
        """Frames by decision; `detector_share`: the fraction of frames the detector ran on."""
        total = sum(self.counts.values())
        skipped = self.counts[STILL] + self.counts[SEARCH]
        return {**self.counts, "undecoded": self.undecoded, "detector_share": round(1 - skipped / max(total, 1), 3)}
