"""Classifier decoder and the classification stage on a real (tiny) TFLite classifier: logits from mean colour."""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import EdgekitError
from edge.vision.classify import Classifier
from edge.vision.crop import box_crop
from edge.vision.detections import Detections

pytest.importorskip("tensorflow")
from tests.tflite_graphs import colour_classifier_graph, output_names, write_card  # noqa: E402

LABELS = ["red", "green", "blue"]


def _classifier(tmp_path, in_graph_softmax=False, **params):
    graph = colour_classifier_graph(16, in_graph_softmax)
    card = write_card(
        tmp_path,
        "colour",
        graph,
        task="classifier",
        decoder={"name": "classifier", "params": params},
        labels=LABELS,
        outputs=["logits"],
        output_tensors=output_names(graph),
        size=(16, 16),
    )
    return Classifier(card)


def _bgr(rgb, shape=(40, 40)):
    return np.full(shape + (3,), rgb[::-1], np.uint8)


def test_softmax_top_k_labels_and_scores(tmp_path):
    clf = _classifier(tmp_path, top_k=2)
    r = clf.classify(_bgr((255, 0, 0)))
    assert r.labels == ["red", "green"]
    expected = np.exp([4.0, -4.0, -4.0]) / np.exp([4.0, -4.0, -4.0]).sum()
    np.testing.assert_allclose(r.probabilities, expected, atol=1e-4)
    np.testing.assert_allclose(r.probabilities.sum(), 1.0, atol=1e-5)
    assert r.as_dict()[0] == {"label": "red", "score": round(float(expected[0]), 4)}


def test_temperature_flattens_scores_without_changing_the_order(tmp_path):
    sharp = _classifier(tmp_path / "a").classify(_bgr((0, 200, 0)))
    soft = _classifier(tmp_path / "b", temperature=4.0).classify(_bgr((0, 200, 0)))
    assert sharp.labels[0] == soft.labels[0] == "green"
    assert soft.scores[0] < sharp.scores[0]


def test_sigmoid_is_independent_per_class_and_threshold_drops_weak_ones(tmp_path):
    clf = _classifier(tmp_path, activation="sigmoid", top_k=3, score_threshold=0.5)
    r = clf.classify(_bgr((255, 255, 0)))  # yellow: red and green both on, blue off
    assert sorted(r.labels) == ["green", "red"]
    np.testing.assert_allclose(r.scores, [1 / (1 + np.exp(-4.0))] * 2, atol=1e-4)


def test_graph_that_ends_in_softmax_uses_activation_none(tmp_path):
    r = _classifier(tmp_path, in_graph_softmax=True, activation="none").classify(_bgr((0, 0, 255)))
    assert r.labels[0] == "blue" and r.scores[0] > 0.99


def test_each_detection_crop_is_classified(tmp_path):
    clf = _classifier(tmp_path, top_k=1)
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[10:50, 10:50] = (0, 0, 255)  # BGR red
    frame[50:90, 120:180] = (255, 0, 0)  # BGR blue
    dets = Detections(
        boxes=np.array([[10, 10, 50, 50], [120, 50, 180, 90], [300, 300, 310, 310]], np.float32),
        scores=np.ones(3, np.float32),
        class_ids=np.zeros(3, np.int32),
    )
    res = clf.classify_detections(frame, dets, margin=0.0)
    assert [r.labels[0] if r else None for r in res] == ["red", "blue", None]  # the third box lies outside the frame
    only = clf.classify_detections(frame, dets, margin=0.0, only=np.array([False, True, True]))
    assert only[0] is None and only[1].labels == ["blue"]
    assert res[0].as_dict()[0]["label"] == "red" and res[2] is None


def test_crop_margin_is_clipped_to_the_frame():
    frame = np.zeros((50, 50, 3), np.uint8)
    assert box_crop(frame, np.array([0, 0, 20, 10]), 0.5).shape[:2] == (15, 30)
    assert box_crop(frame, np.array([60, 60, 70, 70]), 0.1) is None


def test_a_detector_card_is_refused(tmp_path):
    graph = colour_classifier_graph(16)
    card = write_card(
        tmp_path,
        "colour",
        graph,
        task="object_detector",
        decoder={"name": "classifier"},
        labels=LABELS,
        outputs=["logits"],
        output_tensors=output_names(graph),
        size=(16, 16),
    )
    with pytest.raises(
        EdgekitError, match="'object_detector' is not what this stage runs; pick a card whose task is classifier"
    ):
        Classifier(card)


def test_unknown_activation_is_named(tmp_path):
    with pytest.raises(EdgekitError, match="activation 'relu'"):
        _classifier(tmp_path, activation="relu")


def test_binary_head_gives_both_labels(tmp_path):
    from tests.tflite_graphs import binary_head_graph

    graph = binary_head_graph(16)
    card = write_card(
        tmp_path,
        "binary",
        graph,
        task="classifier",
        decoder={"name": "classifier", "params": {"activation": "none", "top_k": 2}},
        labels=["blue", "red"],
        outputs=["p_red"],
        output_tensors=output_names(graph),
        size=(16, 16),
    )
    clf = Classifier(card)
    red, blue = clf.classify(_bgr((255, 0, 0))), clf.classify(_bgr((0, 0, 255)))
    assert red.labels == ["red", "blue"] and blue.labels == ["blue", "red"]
    np.testing.assert_allclose(red.probabilities, [1 - 1 / (1 + np.exp(-8.0)), 1 / (1 + np.exp(-8.0))], atol=1e-4)
    np.testing.assert_allclose(blue.probabilities.sum(), 1.0, atol=1e-6)
