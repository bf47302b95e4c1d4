"""Any detector card -> Detections in frame pixels: preprocess as the card says, run, decode with the card's decoder,
optionally tiled for frames much larger than the model input."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.card import ModelCard
from edge.errors import EdgekitError
from edge.preprocess import preprocess
from edge.runtime import Model
from edge.vision.decoders import get_decoder
from edge.vision.detections import Detections
from edge.vision.tiling import TilingConfig, detect_tiled

DETECTOR_TASKS = ("object_detector", "face_detector")


class Detector:
    def __init__(self, card_path: str | Path | ModelCard, accelerator=None, tiles: TilingConfig | dict | None = None):
        self.model = Model(card_path, accelerator)
        card = self.model.card
        if card.task not in DETECTOR_TASKS:
            raise EdgekitError(f"model card {card.name}: task '{card.task}' is not a detector", "pick an object_detector card (e.g. nanodet)")
        self.decoder = get_decoder(card.decoder.name)(card)
        self.tiles = TilingConfig.model_validate(tiles) if isinstance(tiles, dict) else tiles

    @property
    def card(self) -> ModelCard:
        return self.model.card

    @property
    def labels(self) -> list[str]:
        return self.model.card.labels

    def label(self, class_id: int) -> str:
        labels = self.model.card.labels
        return labels[class_id] if 0 <= class_id < len(labels) else str(class_id)

    def detect_whole(self, frame: np.ndarray) -> Detections:
        """One model call on the whole frame (resized to the input); boxes clipped to the frame."""
        x, transform = preprocess(frame, self.model.card.preprocess)
        dets = self.decoder(self.model.run(x), transform)
        h, w = frame.shape[:2]
        np.clip(dets.boxes, 0, np.array([w, h, w, h], np.float32), out=dets.boxes)
        return dets

    def detect(self, frame: np.ndarray) -> Detections:
        if frame is None or frame.size == 0:
            raise EdgekitError("detector: empty frame", "check the camera or image source")
        if self.tiles is None:
            return self.detect_whole(frame)
        return detect_tiled(frame, self.detect_whole, self.tiles)
