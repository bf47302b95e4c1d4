"""Cut the largest face out of a photo with a built face detector (for embedder calibration and the pair gate)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.card import load_card
from edge.errors import EdgekitError
from edge.preprocess import preprocess
from edge.runtime import Model
from edge.vision.crop import square_crop
from edge.vision.decoders import get_decoder


def face_crop_from(detector_card: Path, params: dict):
    if not Path(detector_card).is_file():
        raise EdgekitError(f"face detector card {detector_card}: not built", "build the detector first: `edgekit models build blazeface_short`")
    model = Model(load_card(detector_card))
    decode = get_decoder(model.card.decoder.name)(model.card)
    margin = float(params.get("margin", 1.3))

    def crop(image: np.ndarray) -> np.ndarray | None:
        x, t = preprocess(image, model.card.preprocess)
        dets = decode(model.run(x), t)
        if not len(dets):
            return None
        return square_crop(image, dets.boxes[int(np.argmax(dets.areas))], margin)

    return crop
