"""Face embedding: crop each detected face the way the embedder's card says, run it, L2-normalise."""
from __future__ import annotations

import numpy as np

from edge.preprocess import preprocess
from edge.runtime import Model
from edge.vision.align import face_crop
from edge.vision.detections import Detections


class FaceEmbedder:
    def __init__(self, card_path, accelerator=None, mirror: bool | None = None, align: bool | None = None,
                 margin: float | None = None):
        self.model = Model(card_path, accelerator)
        p = self.model.card.decoder.params
        self.mirror = bool(p.get("mirror", False)) if mirror is None else mirror
        self.align = (p.get("crop", "box") == "aligned") if align is None else align
        self.margin = float(p.get("margin", 1.3)) if margin is None else margin
        self.size = self.model.card.preprocess.width
        self.name = self.model.card.name

    @property
    def dim(self) -> int:
        return int(np.prod(self.model._outs[0]["shape"][1:]))

    def crops(self, frame: np.ndarray, dets: Detections) -> list[np.ndarray]:
        kps = dets.keypoints if dets.keypoints is not None else [None] * len(dets)
        return [face_crop(frame, b, k, self.margin, self.size, self.align) for b, k in zip(dets.boxes, kps)]

    def embed_crop(self, crop: np.ndarray) -> np.ndarray:
        x, _ = preprocess(crop, self.model.card.preprocess)
        v = self.model.run(x)[0].reshape(-1)
        if self.mirror:  # test-time augmentation: the mirrored face's embedding, averaged in
            xm, _ = preprocess(np.ascontiguousarray(crop[:, ::-1]), self.model.card.preprocess)
            v = v + self.model.run(xm)[0].reshape(-1)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def embed(self, frame: np.ndarray, dets: Detections) -> np.ndarray:
        if not len(dets):
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self.embed_crop(c) for c in self.crops(frame, dets)]).astype(np.float32)
