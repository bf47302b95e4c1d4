"""The built zoo, on real photos: INT8 keeps what float finds. Needs `edgekit models build` (CI builds it first)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.card import load_card
from edge.images import read_image
from edge.runtime import CardModel
from edge.vision.detections import iou_matrix


def pair(zoo, name):
    return CardModel(load_card(zoo / f"{name}.float.card.json")), CardModel(load_card(zoo / f"{name}.card.json"))


@pytest.mark.parametrize("name", ["blazeface_short", "blazeface_full"])
def test_every_zoo_model_is_int8_in_one_xnnpack_partition(zoo, name):
    card = load_card(zoo / f"{name}.card.json")
    assert card.target == "cpu" and card.gate["passed"]
    assert all(t.dtype == "int8" for t in card.inputs + card.output_tensors)
    assert CardModel(card).report().partitions == 1


@pytest.mark.parametrize("name", ["faceres", "facenet", "nanodet"])
def test_other_zoo_models_one_partition(zoo, name):
    card = load_card(zoo / f"{name}.card.json")
    assert card.gate["passed"] and CardModel(card).report().partitions == 1


def test_blazeface_int8_finds_the_same_faces_as_float(zoo, media):
    f, q = pair(zoo, "blazeface_short")
    for name in ("obama", "biden", "astronaut"):
        image = read_image(media(name))
        a, b = f.infer(image), q.infer(image)
        assert len(a) == len(b) == 1, name
        assert iou_matrix(a.boxes, b.boxes)[0, 0] >= 0.85, name
        face = float(a.boxes[0, 2] - a.boxes[0, 0])
        # keypoints (eyes, nose, mouth, ears) within 8% of the face width: a few pixels on these faces
        assert np.linalg.norm(a.keypoints - b.keypoints, axis=-1).max() <= 0.08 * face, name


def test_faceres_int8_verification_within_half_a_point_of_float(zoo, shared_data):
    from converters.face_crop import face_crop_from  # workstation-side helper; the test runs on the workstation
    from converters.gate import embedding_metrics

    pytest.importorskip("tensorflow")
    f, q = pair(zoo, "faceres")
    crop = face_crop_from(zoo / "blazeface_short.float.card.json", f.card.decoder.params, f.card.preprocess.width)
    m = embedding_metrics(f, q, [], ["shared:faces/deepface/pairs.csv"], crop)
    acc = m["verification_accuracy[shared:faces/deepface/pairs.csv]"]
    assert acc["float"] - acc["int8"] <= 0.005 and acc["int8"] >= 0.95, acc


def test_nanodet_int8_matches_float_on_real_photos(zoo, shared_data):
    """Recall of INT8 against float at IoU 0.5 (float detections scoring 0.1 above the threshold: see the gate)."""
    pytest.importorskip("tensorflow")
    from converters.calibration import load_samples
    from converters.gate import detection_agreement

    f, q = pair(zoo, "nanodet")
    samples, _ = load_samples(["shared:shelf/ultralytics_assets", "shared:shelf/sku110k_sample/images"])
    m = detection_agreement(f, q, samples)
    assert m["float_detections"] >= 5 and m["recall"] >= 0.9 and m["precision"] >= 0.9, m


def test_an_unchanged_model_is_not_rebuilt(zoo, tmp_path):
    """On a copy of the zoo's files: when the converters changed since the zoo was built (a checkout beside a shared
    zoo), the rebuild this test then triggers must not land in the shared zoo."""
    pytest.importorskip("tensorflow")
    import shutil
    import subprocess
    import sys

    for f in zoo.glob("blazeface_short*"):
        shutil.copy(f, tmp_path / f.name)
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "models", "build", "blazeface_short", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "blazeface_short: unchanged" in r.stdout, r.stderr[-1000:]
