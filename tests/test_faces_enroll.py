"""Enrollment rules on real pictures through the built INT8 models: exactly one face, big enough, sharp enough;
each rejection says why."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.errors import EdgekitError
from edge.faces.enroll import EnrollRules, check_and_embed, enrol_pictures, frames_from_video, sharpness
from edge.images import list_images, read_image


@pytest.fixture(scope="module")
def models(zoo):
    from edge.faces.detector import FaceDetector
    from edge.faces.embedder import FaceEmbedder

    return FaceDetector(zoo / "blazeface_short.card.json"), FaceEmbedder(zoo / "faceres.card.json")


@pytest.fixture(scope="module")
def far(zoo):
    from edge.faces.detector import FaceDetector

    return FaceDetector(zoo / "blazeface_full.card.json")


def test_a_clear_single_face_gives_a_unit_vector(models, far, media):
    det, emb = models
    vec, why = check_and_embed(det, emb, read_image(media("obama")), EnrollRules(), far)  # one face for both models
    assert why == "ok" and vec.shape == (1024,) and vec.dtype == np.float32
    assert abs(float(np.linalg.norm(vec)) - 1) < 1e-5
    other, _ = check_and_embed(det, emb, read_image(media("obama2")), EnrollRules())
    biden, _ = check_and_embed(det, emb, read_image(media("biden")), EnrollRules())
    assert (
        float(vec @ other) > 0.6 > float(vec @ biden)
    )  # the same man scores over the shipped threshold, another under


def test_no_face_blank_or_shelf(models, shared_data):
    det, emb = models
    assert check_and_embed(det, emb, np.full((480, 640, 3), 127, np.uint8), EnrollRules()) == (None, "no face found")
    shelf = read_image(list_images(shared_data / "shelf" / "sku110k_sample")[0])
    assert check_and_embed(det, emb, shelf, EnrollRules()) == (None, "no face found")


@pytest.mark.parametrize("name", ["zidane.jpg", "bus.jpg"])
def test_many_faces_are_refused(models, far, shared_data, name):
    """People a few metres away are too small for the short-range model; the full-range one counts them."""
    det, emb = models
    vec, why = check_and_embed(
        det, emb, read_image(shared_data / "shelf" / "ultralytics_assets" / name), EnrollRules(), far
    )
    assert vec is None and why.endswith("faces found, enrollment needs exactly one") and int(why.split()[0]) >= 2


def test_small_and_blurred_faces_say_so(models, media):
    det, emb = models
    face = read_image(media("obama"))
    vec, why = check_and_embed(
        det, emb, cv2.resize(face, None, fx=0.12, fy=0.12, interpolation=cv2.INTER_AREA), EnrollRules()
    )
    assert vec is None and why.startswith("face too small (") and "at least 48 needed" in why
    vec, why = check_and_embed(det, emb, cv2.GaussianBlur(face, (0, 0), 8), EnrollRules())
    assert vec is None and why.startswith("face too blurred (sharpness")


def test_sharpness_is_the_laplacian_variance(media):
    face = cv2.resize(read_image(media("obama")), (112, 112), interpolation=cv2.INTER_AREA)
    assert sharpness(face) > 3 * sharpness(cv2.GaussianBlur(face, (0, 0), 3)) > 0


def test_enrol_pictures_keeps_good_ones_and_lists_the_rest(models, far, media, shared_data, tmp_path):
    det, emb = models
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(media("obama").read_bytes()[:5000])
    inputs = [
        (str(media("obama")), None),
        (str(shared_data / "shelf" / "ultralytics_assets" / "zidane.jpg"), None),
        (str(cut), None),
        ("blank", np.zeros((200, 200, 3), np.uint8)),
    ]
    result = enrol_pictures(det, emb, inputs, EnrollRules(), far_detector=far)
    assert result.sources == [str(media("obama"))] and len(result.vectors) == 1
    reasons = dict(result.rejected)
    assert "faces found" in reasons[inputs[1][0]]
    assert "truncated JPEG" in reasons[str(cut)]
    assert reasons["blank"] == "no face found"


def test_enrol_from_a_video_keeps_varied_views(models, media):
    det, emb = models
    result = enrol_pictures(
        det, emb, frames_from_video(media("carphone"), every=10), EnrollRules(min_face_px=32), max_views=4
    )
    assert 1 <= len(result.vectors) <= 4
    v = np.stack(result.vectors)
    assert (v @ v.T).min() > 0.5  # one man throughout: his views agree
    assert all("#" in s for s in result.sources)


def test_a_video_that_is_missing_or_not_a_video_is_named(tmp_path):
    with pytest.raises(EdgekitError, match="nope.mp4: not found"):
        list(frames_from_video(tmp_path / "nope.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    with pytest.raises(EdgekitError, match="junk.mp4: cannot be opened"):
        list(frames_from_video(junk))
