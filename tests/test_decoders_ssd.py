"""SSD decoder on a real TFLite graph ending in the TFLite_Detection_PostProcess custom op (the layout Coral's SSD
models ship): boxes [1, N, 4] ymin xmin ymax xmax normalised, classes, scores, count; rows past count are garbage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.errors import EdgekitError
from edge.vision.detector import Detector

pytest.importorskip("tensorflow")
from tests.tflite_graphs import output_names, ssd_graph, write_card  # noqa: E402

LABELS = ["person", "bicycle", "car"]
# four anchors, quadrants of the input: (ycentre, xcentre, h, w)
ANCHORS = np.array([[0.25, 0.25, 0.5, 0.5], [0.25, 0.75, 0.5, 0.5], [0.75, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]])


def _logits():
    z = np.full((4, 1 + len(LABELS)), -10.0)
    z[0, 1 + 1] = 4.0  # top-left: bicycle, 0.982
    z[3, 1 + 0] = 3.0  # bottom-right: person, 0.953
    z[1, 1 + 2] = -1.0  # top-right: car, 0.269
    return z


def _detector(tmp_path, outputs=("boxes", "classes", "scores", "count"), **params):
    graph = ssd_graph(_logits(), ANCHORS)
    names = output_names(graph)  # the op's outputs :0..:3 are boxes, classes, scores, count
    role = dict(zip(("boxes", "classes", "scores", "count"), names))
    card = write_card(
        tmp_path,
        "ssd_test",
        graph,
        task="object_detector",
        decoder={"name": "ssd", "params": params},
        labels=LABELS,
        outputs=list(outputs),
        output_tensors=[role[o] for o in outputs],
        size=(32, 32),
    )
    return Detector(card)


def test_post_process_outputs_become_frame_boxes(tmp_path):
    det = _detector(tmp_path, score_threshold=0.5)
    d = det.detect(np.zeros((200, 400, 3), np.uint8))
    assert [det.label(c) for c in d.class_ids] == ["bicycle", "person"]
    np.testing.assert_allclose(d.scores, [0.982, 0.953], atol=1e-3)
    np.testing.assert_allclose(d.boxes, [[0, 0, 200, 100], [200, 100, 400, 200]], atol=0.5)


def test_low_scores_kept_when_the_threshold_allows_and_garbage_rows_ignored(tmp_path):
    det = _detector(tmp_path, score_threshold=0.2)
    d = det.detect(np.zeros((32, 32, 3), np.uint8))
    # the op returns max_detections=10 rows, count=3: rows 3..9 are uninitialised memory and must not appear
    assert len(d) == 3 and det.label(int(d.class_ids[-1])) == "car"
    assert np.isfinite(d.boxes).all() and (d.boxes >= 0).all() and (d.boxes <= 32).all()


def test_outputs_in_another_order_are_read_by_name(tmp_path):
    det = _detector(tmp_path, outputs=("count", "scores", "boxes", "classes"), score_threshold=0.5)
    d = det.detect(np.zeros((32, 32, 3), np.uint8))
    assert [det.label(c) for c in d.class_ids] == ["bicycle", "person"]


def test_label_offset_for_label_files_with_background(tmp_path):
    det = _detector(tmp_path, score_threshold=0.5, label_offset=1)
    d = det.detect(np.zeros((32, 32, 3), np.uint8))
    assert [det.label(c) for c in d.class_ids] == ["car", "bicycle"]


def test_card_without_role_names_is_named(tmp_path):
    card = _detector(tmp_path).card
    path = tmp_path / "ssd_test.card.json"
    data = json.loads(path.read_text())
    data["outputs"] = ["a", "b", "c", "d"]
    path.write_text(json.dumps(data))
    with pytest.raises(EdgekitError, match="missing \\['boxes'"):
        Detector(path)
    assert card.name == "ssd_test"
