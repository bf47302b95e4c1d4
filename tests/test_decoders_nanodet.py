"""NanoDet GFL decoder: the exact output layout on hand-set tensors (cell order, side order, stride, centre), then the
zoo's model on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from edge.card import ModelCard
from edge.preprocess import Transform
from edge.vision.decoders import get_decoder


def _card(**params):
    return ModelCard.model_validate(
        {
            "name": "nanodet",
            "task": "object_detector",
            "tflite": "x.tflite",
            "sha256": "",
            "preprocess": {"width": 416, "height": 416},
            "decoder": {
                "name": "nanodet",
                "params": {"strides": [8, 16, 32], "reg_max": 10, "centre_offset": 0.5, **params},
            },
            "labels": [f"c{i}" for i in range(80)],
            "outputs": ["cls8", "cls16", "cls32", "box8", "box16", "box32"],
        }
    )


def _outputs():
    cls = [np.zeros((1, (416 // s) ** 2, 80), np.float32) for s in (8, 16, 32)]
    box = [np.full((1, (416 // s) ** 2, 44), -20.0, np.float32) for s in (8, 16, 32)]
    return cls, box


def test_one_hot_cell_decodes_to_the_exact_box():
    cls, box = _outputs()
    gx, gy = 5, 3  # stride 16 grid is 26x26, row-major: index = y * 26 + x
    i = gy * 26 + gx
    cls[1][0, i, 7] = 0.9
    # left, top, right, bottom distances as one-hot bins 2, 1, 3, 4 (in strides)
    for side, b in enumerate((2, 1, 3, 4)):
        box[1][0, i, side * 11 + b] = 20.0
    dec = get_decoder("nanodet")(_card())
    d = dec(cls + box, Transform(1.0, 1.0, 0.0, 0.0))
    cx, cy = (gx + 0.5) * 16, (gy + 0.5) * 16
    assert d.class_ids.tolist() == [7] and d.scores.tolist() == pytest.approx([0.9])
    np.testing.assert_allclose(d.boxes[0], [cx - 32, cy - 16, cx + 48, cy + 64], atol=1e-3)


def test_distance_is_the_softmax_expectation_and_transform_applies():
    cls, box = _outputs()
    cls[2][0, 0, 0] = 0.8  # stride 32, cell (0, 0)
    for side in range(4):
        box[2][0, 0, side * 11 + 1] = 5.0
        box[2][0, 0, side * 11 + 2] = 5.0  # equal mass on bins 1 and 2: 1.5 strides
    d = get_decoder("nanodet")(_card())(cls + box, Transform(0.5, 0.5, 0.0, 0.0))
    c = 16.0
    np.testing.assert_allclose(d.boxes[0], np.array([c - 48, c - 48, c + 48, c + 48]) / 0.5, atol=1e-2)


def test_threshold_and_class_aware_nms():
    cls, box = _outputs()
    for i, k, s in ((0, 1, 0.9), (1, 1, 0.8), (1, 2, 0.7), (30, 3, 0.3)):  # two neighbours of class 1 overlap
        cls[0][0, i, k] = s
        box[0][0, i, [b * 11 + 4 for b in range(4)]] = 20.0
    d = get_decoder("nanodet")(_card(score_threshold=0.35, iou_threshold=0.5))(cls + box, Transform(1, 1, 0, 0))
    assert sorted(d.class_ids.tolist()) == [1, 2]  # the second cell keeps its class-2 box: NMS is per class
    assert 3 not in d.class_ids.tolist()  # below the threshold
    # one cell apart = 8 px shift of 64 px boxes: IoU 0.78 > 0.5, so the weaker class-1 box goes
    assert d.class_ids.tolist().count(1) == 1


@pytest.mark.parametrize("name", ["nanodet", "nanodet.float"])
def test_people_on_the_bus_photo(zoo, shared_data, name):
    from edge.images import read_image
    from edge.vision.detector import Detector

    det = Detector(zoo / f"{name}.card.json")
    d = det.detect(read_image(shared_data / "shelf" / "ultralytics_assets" / "bus.jpg"))
    people = d[d.class_ids == det.labels.index("person")]
    assert len(people) >= 2
    # the two people in the left foreground (by eye: x 50-240 and 220-350, feet near y 900)
    centres = (people.boxes[:, 0] + people.boxes[:, 2]) / 2
    assert ((centres > 80) & (centres < 200)).any() and ((centres > 230) & (centres < 340)).any()
    assert (people.boxes[:, 3] > 820).sum() >= 2 and (people.boxes[:, 1] > 300).all()
