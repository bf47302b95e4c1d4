"""Any detector card -> Detections in frame pixels (boxes clipped to the frame), through the one inference seam
(CardModel), optionally tiled for frames much larger than the model input. The face detector is this class too."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.card import ModelCard
from edge.errors import EdgekitError
from edge.runtime import CardModel
from edge.vision.detections import Detections
from edge.vision.tiling import TilingConfig, detect_tiled

DETECTOR_TASKS = ("object_detector", "face_detector")


class Detector:
    def __init__(
        self,
        card_path: str | Path | ModelCard,
        accelerator=None,
        tiles: TilingConfig | dict | None = None,
        min_score: float | None = None,
    ):
        self.model = CardModel(card_path, accelerator, tasks=DETECTOR_TASKS)
        self.card, self.decoder = self.model.card, self.model.decoder
        if min_score is not None:
            self.decoder.score_threshold = min_score
        self.tiles = TilingConfig.model_validate(tiles) if isinstance(tiles, dict) else tiles

    @property
    def labels(self) -> list[str]:
        return self.model.card.labels

    def label(self, class_id: int) -> str:
        labels = self.model.card.labels
        return labels[class_id] if 0 <= class_id < len(labels) else str(class_id)

    def detect_whole(self, frame: np.ndarray) -> Detections:
        """One model call on the whole frame (resized to the input); boxes clipped to the frame."""
        return self.model.infer(frame)

    def detect(self, frame: np.ndarray) -> Detections:
        if frame is None or frame.size == 0:
            raise EdgekitError("detector: empty frame", "check the camera or image source")
        if self.tiles is None:
            return self.detect_whole(frame)
        return detect_tiled(frame, self.detect_whole, self.tiles)
