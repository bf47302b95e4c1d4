"""YOLOv8/11 decoder on real TFLite graphs whose output is the Ultralytics export layout [1, 4 + classes, N]."""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import EdgekitError
from edge.vision.detector import Detector

pytest.importorskip("tensorflow")
from tests.tflite_graphs import output_names, write_card, yolo_graph  # noqa: E402

LABELS = ["bottle", "cup", "person"]


def _rows(boxes_cxcywh, scores):
    """(4 + classes, N) from per-box cx, cy, w, h and per-box class scores."""
    return np.concatenate([np.asarray(boxes_cxcywh, np.float32).T, np.asarray(scores, np.float32).T], 0)


def _detector(tmp_path, rows, transpose=False, **params):
    graph = yolo_graph(rows, 64, transpose)
    card = write_card(
        tmp_path,
        "yolo_test",
        graph,
        task="object_detector",
        decoder={"name": "yolo", "params": params},
        labels=LABELS,
        outputs=["output0"],
        output_tensors=output_names(graph),
        size=(64, 64),
    )
    return Detector(card)


@pytest.mark.parametrize("transpose", [False, True])
def test_normalised_boxes_map_to_frame_pixels(tmp_path, transpose):
    rows = _rows(
        [[0.25, 0.5, 0.2, 0.4], [0.75, 0.5, 0.1, 0.2], [0.5, 0.5, 0.5, 0.5]],
        [[0.9, 0.0, 0.1], [0.0, 0.0, 0.6], [0.1, 0.2, 0.05]],
    )  # third box below the 0.25 threshold
    det = _detector(tmp_path, rows, transpose)
    frame = np.zeros((300, 400, 3), np.uint8)  # stretch: x by 400, y by 300
    d = det.detect(frame)
    assert [det.label(c) for c in d.class_ids] == ["bottle", "person"]
    np.testing.assert_allclose(d.scores, [0.9, 0.6], atol=1e-6)
    np.testing.assert_allclose(d.boxes, [[60, 90, 140, 210], [280, 120, 320, 180]], atol=0.5)


def test_pixel_boxes_and_class_aware_nms(tmp_path):
    # pixel coordinates of the 64x64 input; two overlapping bottles (one suppressed), a cup on the same spot (kept)
    rows = _rows(
        [[32, 32, 20, 20], [33, 32, 20, 20], [32, 32, 20, 20]], [[0.8, 0.0, 0.0], [0.7, 0.0, 0.0], [0.0, 0.5, 0.0]]
    )
    det = _detector(tmp_path, rows)
    d = det.detect(np.zeros((64, 64, 3), np.uint8))
    assert sorted(det.label(c) for c in d.class_ids) == ["bottle", "cup"]
    np.testing.assert_allclose(d.boxes[0], [22, 22, 42, 42], atol=0.5)


def test_agnostic_nms_and_thresholds_from_the_card(tmp_path):
    rows = _rows([[32, 32, 20, 20], [32, 32, 20, 20]], [[0.8, 0.0, 0.0], [0.0, 0.5, 0.0]])
    det = _detector(tmp_path, rows, agnostic_nms=True, normalized=False)
    assert len(det.detect(np.zeros((64, 64, 3), np.uint8))) == 1
    det = _detector(tmp_path, rows, score_threshold=0.9)
    assert len(det.detect(np.zeros((64, 64, 3), np.uint8))) == 0


def test_labels_that_do_not_match_the_export_are_named(tmp_path):
    rows = np.zeros((4 + 5, 6), np.float32)  # five classes in the graph, three labels on the card
    det = _detector(tmp_path, rows)
    with pytest.raises(EdgekitError, match="4 \\+ 3 classes"):
        det.detect(np.zeros((64, 64, 3), np.uint8))
