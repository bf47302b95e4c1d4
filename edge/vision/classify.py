"""The classification stage: a classifier card run on a whole frame or on each detection's crop (product type on a
shelf facing, mask or no mask on a face). Detection says where each thing is; this says what it is.

Results are per detection, in detection order, and ride on events as `attributes` ([{label, score}, ...])."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.card import ModelCard
from edge.errors import EdgekitError
from edge.preprocess import preprocess
from edge.runtime import Model
from edge.vision.decoders import get_decoder
from edge.vision.decoders.classifier import Classes
from edge.vision.detections import Detections


def crop_box(frame: np.ndarray, box: np.ndarray, margin: float) -> np.ndarray | None:
    """The box grown by `margin` of its size on each side, clipped to the frame; None if nothing is left."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    x1, y1 = int(max(0, np.floor(x1 - mx))), int(max(0, np.floor(y1 - my)))
    x2, y2 = int(min(w, np.ceil(x2 + mx))), int(min(h, np.ceil(y2 + my)))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return frame[y1:y2, x1:x2]


class Classifier:
    def __init__(self, card_path: str | Path | ModelCard, accelerator=None, top_k: int | None = None):
        self.model = Model(card_path, accelerator)
        card = self.model.card
        if card.task != "classifier":
            raise EdgekitError(f"model card {card.name}: task '{card.task}' is not a classifier", "pick a card whose task is classifier")
        self.decoder = get_decoder(card.decoder.name)(card)
        self.top_k = top_k

    @property
    def card(self) -> ModelCard:
        return self.model.card

    def classify(self, image: np.ndarray) -> Classes:
        """A whole frame (or one crop)."""
        x, _ = preprocess(image, self.model.card.preprocess)
        out = self.model.run(x)[self.decoder.output]
        return self.decoder.decode_batch(out.reshape(1, -1), self.top_k)[0]

    def classify_detections(self, frame: np.ndarray, dets: Detections, margin: float = 0.1,
                            only: np.ndarray | None = None) -> list[Classes | None]:
        """One result per detection (None where `only` is False or the crop is empty). The model takes one crop per
        call (batch 1 graphs), so this is a loop over detections, not over pixels."""
        results: list[Classes | None] = []
        for i, box in enumerate(dets.boxes):
            crop = crop_box(frame, box, margin) if only is None or only[i] else None
            results.append(None if crop is None else self.classify(crop))
        return results


def attributes(results: list[Classes | None]) -> list[list[dict] | None]:
    """JSON-ready per-detection results for events."""
    return [None if r is None else r.as_dict() for r in results]
