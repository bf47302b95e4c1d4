"""dlib_resnet's face chip and test-time mirroring on real LFW photos: the embedding the device computes, the one the
converter's gate scores, and where the chip template comes from."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.fixtures.cards import edited_card

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ["Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Colin_Powell/Colin_Powell_0001.jpg"]


@pytest.fixture(scope="module")
def dlib_card(zoo) -> Path:
    card = zoo / "dlib_resnet.card.json"
    if not card.is_file():
        pytest.skip(f"dlib_resnet not built in {zoo}: `edgekit models build dlib_resnet`")
    return card


@pytest.fixture(scope="module")
def lfw_dir(shared_data) -> Path:
    d = shared_data / "faces" / "lfw"
    if not (d / "meta" / "pairs.txt").is_file():
        pytest.skip(f"needs LFW in {d}")
    return d


def _card_with(tmp_path: Path, card: Path, **params) -> Path:
    """A copy of a built card (and its model) with other decoder params."""
    return edited_card(card, tmp_path / "edited", lambda c: c["decoder"]["params"].update(params))


def _chips(zoo, dlib_card, lfw_dir):
    from edge.faces.detector import FaceDetector
    from edge.faces.embedder import FaceEmbedder
    from edge.faces.lfw import central_face
    from edge.images import read_image

    det, emb = FaceDetector(zoo / "blazeface_short.card.json"), FaceEmbedder(dlib_card)
    for name in PHOTOS:
        image = read_image(lfw_dir / "images" / name)
        d = det.detect(image)
        yield emb.crops(image, d[central_face(d.boxes, image.shape)])[0]


def test_the_card_declares_mirroring_and_the_embedder_follows_the_card(dlib_card, tmp_path):
    from edge.faces.embedder import FaceEmbedder

    source = yaml.safe_load((ROOT / "models" / "dlib_resnet.yaml").read_text())
    assert source["decoder"]["params"]["mirror"] is True
    assert FaceEmbedder(_card_with(tmp_path, dlib_card, mirror=True)).mirror is True
    assert FaceEmbedder(_card_with(tmp_path, dlib_card, mirror=False)).mirror is False
    assert FaceEmbedder(_card_with(tmp_path, dlib_card, mirror=False), mirror=True).mirror is True  # config wins


def test_a_mirrored_embedding_is_the_mean_of_both_faces_and_blind_to_left_and_right(zoo, dlib_card, lfw_dir):
    """Mirroring embeds the chip and its mirror image and rescales the sum of the two unit vectors: the result is the
    same for a chip and for its mirror image (to float rounding), while the plain embeddings of the two differ."""
    from edge.faces.embedder import FaceEmbedder

    mirrored, plain = FaceEmbedder(dlib_card, mirror=True), FaceEmbedder(dlib_card, mirror=False)
    for chip in _chips(zoo, dlib_card, lfw_dir):
        flipped = np.ascontiguousarray(chip[:, ::-1])
        a, b = plain.embed_crop(chip), plain.embed_crop(flipped)
        m = mirrored.embed_crop(chip)
        assert np.isclose(np.linalg.norm(m), 1.0, atol=1e-5)
        assert np.allclose(m, (a + b) / np.linalg.norm(a + b), atol=1e-5)
        assert np.allclose(m, mirrored.embed_crop(flipped), atol=1e-5)
        assert float(a @ b) < 0.995  # a real face is not symmetric to the network: mirroring adds a second look


def test_the_gate_scores_lfw_as_the_device_embeds(zoo, dlib_card, lfw_dir, tmp_path):
    """converters' LFW gate with the card's mirroring gives the figures of edge.faces.lfw through the device's
    FaceEmbedder: the gate measures what the device does (3 same + 3 different pairs per fold, 60 pairs)."""
    from converters.face_crop import face_crop_from
    from converters.gate import lfw_metrics
    from edge.faces import lfw
    from edge.faces.detector import FaceDetector
    from edge.faces.embedder import FaceEmbedder
    from edge.metrics import roc_auc
    from edge.runtime import CardModel

    detector_card = zoo / "blazeface_short.card.json"
    card = json.loads(dlib_card.read_text())
    model = CardModel(dlib_card)
    crop = face_crop_from(detector_card, card["decoder"]["params"], 150)
    for mirror in (True, False):
        gate = lfw_metrics(model, model, str(lfw_dir), 3, crop, mirror)
        pairs = lfw.read_pairs(lfw_dir, limit=3)
        embed = lfw.pipeline_embed(FaceDetector(detector_card), FaceEmbedder(dlib_card, mirror=mirror))
        scores, missed = lfw.pair_scores(pairs, {p: embed(pairs.images / p) for p in pairs.photos()})
        ten = lfw.ten_fold(scores, pairs.same, pairs.fold)
        key = f"[{lfw_dir}]"
        assert gate[f"lfw_pairs{key}"] == {"pairs": 60, "photos_without_a_face": missed}
        assert gate[f"lfw_accuracy{key}"]["int8"] == round(ten["accuracy_mean"], 4)
        assert gate[f"auc{key}"]["int8"] == round(roc_auc(scores, pairs.same), 4)


def test_the_dlib_resnet_gate_decides_on_lfw_folds(dlib_card, lfw_dir):
    """The card's gate names LFW's View 2 folds, and the zoo's build was judged on them (2000 pairs, float vs INT8)."""
    source = yaml.safe_load((ROOT / "models" / "dlib_resnet.yaml").read_text())
    assert source["gate"]["lfw"] == "shared:faces/lfw" and source["gate"]["lfw_limit"] == 100
    assert "lfw_accuracy" in source["gate"]["max_drop"]
    gate = json.loads(dlib_card.read_text())["gate"]
    assert gate["passed"] is True
    assert gate["lfw_pairs[shared:faces/lfw]"] == {"pairs": 2000, "photos_without_a_face": 0}
    acc = gate["lfw_accuracy[shared:faces/lfw]"]
    assert acc["float"] - acc["int8"] <= source["gate"]["max_drop"]["lfw_accuracy"] and acc["int8"] > 0.97


def test_the_chip_template_is_where_blazeface_keypoints_land_on_dlibs_chip(zoo, lfw_dir):
    """scripts/dlib_chip_template.py on the first 40 View 1 training people: the mean of BlazeFace's keypoints, mapped
    onto dlib's own chip of each photo, is within 1 px of the template for the eyes and mouth (the full run used 1100
    people; 0.6 px here, while the previous template, from BlazeFace re-run on dlib's chips, was 2 px off)."""
    pytest.importorskip("dlib", reason="needs the face_recognition peer (`make peer`)")
    pytest.importorskip("face_recognition_models", reason="needs the face_recognition peer (`make peer`)")
    from edge.vision.templates import TEMPLATES

    spec = importlib.util.spec_from_file_location("dlib_chip_template", ROOT / "scripts" / "dlib_chip_template.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    points = script.measure(lfw_dir, 40)
    assert len(points) >= 38
    error = np.abs(points.mean(0) - np.asarray(TEMPLATES["dlib_chip"].points))
    assert error[[0, 1, 3]].max() < 1.0, error.round(2)  # the fitted points: eyes and mouth
    assert 8 > points[:, [0, 1, 3]].std(0).mean() > 2  # real scatter, not a constant
