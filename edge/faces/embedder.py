"""Face embedding: crop each detected face the way the embedder's card says (box / aligned / template, margin,
mirroring), run the model, L2-normalise (the card's "embedding" decoder)."""
from __future__ import annotations

import numpy as np

from edge.errors import EdgekitError
from edge.preprocess import preprocess
from edge.runtime import Model
from edge.vision.align import CROPS, face_crop
from edge.vision.decoders import get_decoder
from edge.vision.detections import Detections


class FaceEmbedder:
    """`align`: None = the card's crop, True/False = "aligned"/"box", or a crop name from edge.vision.align.CROPS."""

    def __init__(self, card_path, accelerator=None, mirror: bool | None = None, align: bool | str | None = None,
                 margin: float | None = None, fit: tuple | None = None):
        self.model = Model(card_path, accelerator)
        card = self.model.card
        if card.decoder.name != "embedding":
            raise EdgekitError(f"model card {card.name}: decoder '{card.decoder.name}' is not an embedder",
                               "set embedder.model to an embedder card (faceres, facenet)")
        p = card.decoder.params
        self.decode = get_decoder("embedding")(card)
        self.mirror = bool(p.get("mirror", False)) if mirror is None else bool(mirror)
        if align is None:
            self.crop = str(p.get("crop", "box"))
        else:
            self.crop = ("aligned" if align else "box") if isinstance(align, bool) else str(align)
        if self.crop not in CROPS:
            raise EdgekitError(f"embedder {card.name}: crop '{self.crop}' is unknown", f"use one of: {', '.join(CROPS)}")
        self.margin = float(p.get("margin", 1.3)) if margin is None else float(margin)
        self.fit = fit if fit is not None else p.get("fit")  # named chips: which keypoints the similarity is fitted to (default: the template's)
        self.size = card.preprocess.width
        self.name = card.name

    @property
    def align(self) -> bool:
        return self.crop != "box"

    @property
    def dim(self) -> int:
        return int(np.prod(self.model._outs[0]["shape"][1:]))

    def crops(self, frame: np.ndarray, dets: Detections) -> list[np.ndarray]:
        kps = dets.keypoints if dets.keypoints is not None else [None] * len(dets)
        return [face_crop(frame, b, k, self.margin, self.size, self.crop, self.fit) for b, k in zip(dets.boxes, kps)]

    def _vector(self, crop: np.ndarray) -> np.ndarray:
        x, _ = preprocess(crop, self.model.card.preprocess)
        return self.decode(self.model.run(x))[0]

    def embed_crop(self, crop: np.ndarray) -> np.ndarray:
        """Unit vector (D,) of one face crop (size x size BGR, or any picture of a face: it is resized)."""
        v = self._vector(crop)
        if self.mirror:  # test-time augmentation: the mirrored face's unit vector, averaged in
            v = v + self._vector(np.ascontiguousarray(crop[:, ::-1]))
            v = v / max(float(np.linalg.norm(v)), 1e-12)
        return v.astype(np.float32)

    def embed(self, frame: np.ndarray, dets: Detections) -> np.ndarray:
        """(N, D) float32 unit vectors, one per detection, in the detections' order."""
        if not len(dets):
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self.embed_crop(c) for c in self.crops(frame, dets)]).astype(np.float32)
