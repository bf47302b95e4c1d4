"""The device's input path for INT8 models: the card's normalisation and the input tensor's quantisation fused into one
256-entry table per channel, applied to the resized uint8 pixels. It must give the very tensor the float path gives
(prepare: (x - mean) / std in float32, then quantize), on real pictures, for every zoo model with an INT8 input."""

from __future__ import annotations

import numpy as np
import pytest

from edge.images import read_image
from edge.runtime import CardModel


def _zoo_int8_cards(zoo):
    cards = sorted(p for p in zoo.glob("*.card.json") if ".float." not in p.name)
    if not cards:
        pytest.skip(f"no zoo models in {zoo}")
    return cards


def test_the_fused_table_gives_the_float_paths_tensor_bit_for_bit(zoo, media):
    pictures = [read_image(media(who)) for who in ("obama", "astronaut")]
    pictures += [np.ascontiguousarray(p[40:190, 60:210]) for p in pictures]  # crops as the embedders get them
    pictures += [read_image(media("obama"))[..., 0].copy()]  # a grey frame
    fused = 0
    for card in _zoo_int8_cards(zoo):
        model = CardModel(card)
        if model.card.preprocess.prewhiten or not model._in_q.quantized:
            assert model.quantized_input(pictures[0]) is None  # no table: the float path is the only one
            continue
        fused += 1
        for picture in pictures:
            x, t_float = model.prepare(picture)
            q, t_table = model.quantized_input(picture)
            assert q.dtype == model.input_dtype and q.shape == model.input_shape
            assert np.array_equal(q, model._in_q.quantize(x)), model.card.name
            assert t_float == t_table
    assert fused >= 4  # the detectors and dlib_resnet, faceres, facenet: INT8 inputs with an affine normalisation


def test_infer_goes_through_the_table_and_decodes_what_the_float_path_decodes(zoo, media):
    model = CardModel(zoo / "dlib_resnet.card.json") if (zoo / "dlib_resnet.card.json").is_file() else None
    if model is None:
        pytest.skip("dlib_resnet not built")
    chip = np.ascontiguousarray(read_image(media("obama"))[40:190, 60:210])
    x, t = model.prepare(chip)
    assert np.array_equal(model.infer(chip), model.decode(model.run(x), t))
