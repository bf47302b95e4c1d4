"""Face detection: a detector card (BlazeFace) on a frame -> Detections with 6 keypoints, in frame pixels."""
from __future__ import annotations

import numpy as np

from edge.preprocess import preprocess
from edge.runtime import Model
from edge.vision.decoders import get_decoder
from edge.vision.detections import Detections


class FaceDetector:
    def __init__(self, card_path, accelerator=None, min_score: float | None = None):
        self.model = Model(card_path, accelerator)
        self.decode = get_decoder(self.model.card.decoder.name)(self.model.card)
        if min_score is not None:
            self.decode.score_threshold = min_score

    def detect(self, frame: np.ndarray) -> Detections:
        x, transform = preprocess(frame, self.model.card.preprocess)
        return self.decode(self.model.run(x), transform)
