"""Face detection: a detector card (BlazeFace) on a frame -> Detections with 6 keypoints, in frame pixels. The generic
detector with the face detector's constructor (no tiling: faces at a door fill the frame)."""

from __future__ import annotations

from edge.vision.detector import Detector


class FaceDetector(Detector):
    def __init__(self, card_path, accelerator=None, min_score: float | None = None):
        super().__init__(card_path, accelerator, min_score=min_score)
