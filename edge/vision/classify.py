"""The classification stage: a classifier card run on a whole frame or on each detection's crop (product type on a
shelf facing, mask or no mask on a face). Detection says where each thing is; this says what it is.

Results are per detection, in detection order, and ride on events as `attributes` ([{label, score}, ...])."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.card import ModelCard
from edge.runtime import CardModel
from edge.vision.crop import box_crop
from edge.vision.decoders.classifier import Classes
from edge.vision.detections import Detections


class Classifier:
    def __init__(self, card_path: str | Path | ModelCard, accelerator=None, top_k: int | None = None):
        self.model = CardModel(card_path, accelerator, tasks=("classifier",))
        self.card = self.model.card
        self.top_k = top_k

    def classify(self, image: np.ndarray) -> Classes:
        """A whole frame (or one crop)."""
        return self.model.infer(image, top_k=self.top_k)

    def classify_detections(
        self, frame: np.ndarray, dets: Detections, margin: float = 0.1, only: np.ndarray | None = None
    ) -> list[Classes | None]:
        """One result per detection (None where `only` is False or the crop is empty). The model takes one crop per
        call (batch 1 graphs), so this is a loop over detections, not over pixels."""
        results: list[Classes | None] = []
        for i, box in enumerate(dets.boxes):
            crop = box_crop(frame, box, margin) if only is None or only[i] else None
            results.append(None if crop is None else self.classify(crop))
        return results
