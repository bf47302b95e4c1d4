"""Face embedding: crop each detected face the way the embedder's card says (box / aligned / template, margin,
mirroring), then the one inference seam (CardModel: preprocess, run, L2-normalise with the "embedding" decoder)."""

from __future__ import annotations

import numpy as np

from edge.errors import EdgekitError
from edge.runtime import CardModel
from edge.vision.crop import crop_mode, face_crop
from edge.vision.decoders.embedding import l2_normalise
from edge.vision.detections import Detections


def embed_chip(model: CardModel, chip: np.ndarray, mirror: bool = False) -> np.ndarray:
    """Unit vector (D,) of one face chip through `model`; `mirror`: the unit vectors of the chip and of its left-right
    mirror image averaged and rescaled to unit length (test-time mirroring). The device, the evaluations and the
    converter's gate all embed through here, so a card's `mirror` means the same everywhere."""
    v = model.infer(chip)[0].astype(np.float32)
    return with_mirror_image(model, chip, v) if mirror else v


def with_mirror_image(model: CardModel, chip: np.ndarray, v: np.ndarray) -> np.ndarray:
    """`v`, the chip's own unit vector, averaged with its mirror image's and rescaled to unit length: the second
    half of a mirrored embedding, for a caller that looked at the first alone."""
    m = model.infer(np.ascontiguousarray(chip[:, ::-1]))[0]
    return l2_normalise((v + m)[None])[0].astype(np.float32)


class FaceEmbedder:
    """`crop`: None = the card's, True/False = "aligned"/"box", or a name from edge.vision.crop.CROPS (the site
    config's `embedder.align`)."""

    def __init__(
        self,
        card_path,
        accelerator=None,
        mirror: bool | None = None,
        crop: bool | str | None = None,
        margin: float | None = None,
        fit: tuple | None = None,
    ):
        self.model = CardModel(card_path, accelerator)
        card = self.model.card
        if card.decoder.name != "embedding":
            raise EdgekitError(
                f"model card {card.name}: decoder '{card.decoder.name}' is not an embedder",
                "set embedder.model to an embedder card (faceres, facenet)",
            )
        p = card.decoder.params
        self.mirror = bool(p.get("mirror", False)) if mirror is None else bool(mirror)
        try:
            self.crop = crop_mode(p.get("crop", "box") if crop is None else crop)
        except EdgekitError as e:
            raise EdgekitError(f"embedder {card.name}: {e.what}", e.fix) from None
        self.margin = float(p.get("margin", 1.3)) if margin is None else float(margin)
        self.fit = fit if fit is not None else p.get("fit")  # named chips: which keypoints the similarity is fitted to
        # how far a live face's mirror image can move its score: the doorbell's band around the thresholds
        self.mirror_margin = float(p.get("mirror_margin", 0.02))
        self.size = card.preprocess.width
        self.name = card.name

    @property
    def operating_points(self) -> dict | None:
        """The card's calibrated thresholds ({recognize, unknown, instant, unlock} on this embedder's scale)."""
        return self.model.card.decoder.params.get("thresholds")

    @property
    def dim(self) -> int:
        return int(np.prod(self.model.output_shapes[self.model.decoder.index][1:]))

    def crops(self, frame: np.ndarray, dets: Detections) -> list[np.ndarray]:
        kps = dets.keypoints if dets.keypoints is not None else [None] * len(dets)
        return [face_crop(frame, b, k, self.margin, self.size, self.crop, self.fit) for b, k in zip(dets.boxes, kps)]

    def embed_crop(self, crop: np.ndarray) -> np.ndarray:
        """Unit vector (D,) of one face crop (size x size BGR, or any picture of a face: it is resized)."""
        return embed_chip(self.model, crop, self.mirror)

    def embed_once(self, crop: np.ndarray) -> np.ndarray:
        """One inference, mirroring or not: the first look of a live face (`add_mirror` completes it)."""
        return embed_chip(self.model, crop)

    def add_mirror(self, crop: np.ndarray, once: np.ndarray) -> np.ndarray:
        """`once` (embed_once of `crop`) completed to what embed_crop gives with mirroring on."""
        return with_mirror_image(self.model, crop, once)

    def embed(self, frame: np.ndarray, dets: Detections) -> np.ndarray:
        """(N, D) float32 unit vectors, one per detection, in the detections' order."""
        if not len(dets):
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self.embed_crop(c) for c in self.crops(frame, dets)]).astype(np.float32)
