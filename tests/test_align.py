"""Face crops for the embedder: box, eye-level and template (similarity transform) crops on real faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.errors import EdgekitError
from edge.images import read_image
from edge.vision.crop import TEMPLATE, eye_level_matrix, face_crop, template_matrix


def _apply(m, pts):
    return np.asarray(pts, np.float64) @ m[:, :2].T + m[:, 2]


def test_template_matrix_is_the_least_squares_similarity():
    """Keypoints that are the template moved, turned and scaled (plus noise) come back onto the template."""
    rng = np.random.default_rng(3)
    angle, scale, shift = np.radians(25), 180.0, np.array([40.0, 75.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    kps = (TEMPLATE - 0.5) @ rot.T * scale + shift + rng.normal(0, 0.3, (4, 2))
    m = template_matrix(kps, 1.0, 112)
    assert m is not None
    a, b = m[0, 0], m[1, 0]
    assert np.isclose(m[0, 1], -b) and np.isclose(m[1, 1], a)  # rotation + uniform scale, no shear
    assert np.isclose(np.hypot(a, b), 112 / scale, rtol=0.03)
    assert np.isclose(np.degrees(np.arctan2(b, a)), -25, atol=1.5)
    assert np.abs(_apply(m, kps) - TEMPLATE * 112).max() < 2.0
    # the margin shrinks the face about the crop centre
    m13 = template_matrix(kps, 1.3, 112)
    assert np.abs(_apply(m13, kps) - ((TEMPLATE - 0.5) / 1.3 + 0.5) * 112).max() < 2.0


def test_degenerate_keypoints_fall_back_to_the_box(media):
    image = read_image(media("obama"))
    box = np.array([300, 100, 600, 400], np.float32)
    same_spot = np.full((6, 2), 450, np.float32)
    assert template_matrix(same_spot, 1.3, 112) is None
    crop = face_crop(image, box, same_spot, 1.3, 112, "template")
    assert np.array_equal(crop, face_crop(image, box, None, 1.3, 112, "box"))


def test_unknown_crop_is_named(media):
    with pytest.raises(EdgekitError, match="face crop 'tilted' is unknown"):
        face_crop(np.zeros((50, 50, 3), np.uint8), np.array([0, 0, 40, 40]), None, 1.3, 112, "tilted")


def test_crops_at_the_frame_edge_are_padded_not_cut(media):
    image = read_image(media("obama"))
    h, w = image.shape[:2]
    box = np.array([w - 60, h - 60, w + 40, h + 40], np.float32)  # half outside
    kps = np.array(
        [[w - 40, h - 40], [w + 10, h - 40], [w - 15, h - 10], [w - 15, h + 15], [w - 55, h - 35], [w + 35, h - 35]],
        np.float32,
    )
    for mode in ("box", "aligned", "template"):
        assert face_crop(image, box, kps, 1.3, 96, mode).shape == (96, 96, 3)


@pytest.fixture(scope="module")
def models(zoo):
    from edge.faces.detector import FaceDetector
    from edge.faces.embedder import FaceEmbedder

    return FaceDetector(zoo / "blazeface_short.card.json"), FaceEmbedder(zoo / "faceres.card.json")


def _rotated(image, degrees, scale=1.0):
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def test_alignment_levels_the_eyes_of_a_tilted_face(models, media):
    det, _ = models
    tilted = _rotated(read_image(media("obama")), 20)
    d = det.detect(tilted)
    assert len(d) == 1
    kp = d.keypoints[0]
    assert abs(np.degrees(np.arctan2(kp[1, 1] - kp[0, 1], kp[1, 0] - kp[0, 0]))) > 12  # the input is tilted
    for m in (eye_level_matrix(d.boxes[0], kp, 1.3, 112), template_matrix(kp, 1.3, 112)):
        eyes = _apply(m, kp[:2])
        assert abs(eyes[0, 1] - eyes[1, 1]) < 0.03 * 112  # level in the crop
        assert 0.1 * 112 < eyes[0, 0] < eyes[1, 0] < 0.9 * 112


def test_aligned_crops_embed_a_tilted_smaller_face_like_the_upright_one(models, media):
    """What alignment is for: a 35 degree tilt at 60% size should still look like the same face to the embedder,
    clearly closer than the plain box crop manages."""
    det, emb = models
    upright = read_image(media("obama"))
    moved = _rotated(upright, 35, 0.6)
    sims, card_crop = {}, emb.crop
    for mode in ("box", "aligned", "template"):
        emb.crop = mode
        a, b = (emb.embed(img, det.detect(img))[0] for img in (upright, moved))
        sims[mode] = float(a @ b)
    emb.crop = card_crop
    assert sims["aligned"] > 0.88 and sims["template"] > 0.88, sims
    assert min(sims["aligned"], sims["template"]) > sims["box"] + 0.04, sims


LFW_FACES = [
    "Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
    "Abel_Pacheco/Abel_Pacheco_0001.jpg",
    "Angelina_Jolie/Angelina_Jolie_0001.jpg",
    "Colin_Powell/Colin_Powell_0001.jpg",
]


def _chips(det, shared_data, fit):
    """dlib chips of deep-funneled LFW faces (each also turned 25 degrees at 80% size), each centred in a frame twice
    its size (detectors want context around a face)."""
    for name in LFW_FACES:
        image = read_image(shared_data / "faces" / "lfw" / "images" / name)
        for tilted in (image, _rotated(image, 25, 0.8)):
            d = det.detect(tilted)
            h, w = tilted.shape[:2]
            i = int(np.argmin(np.hypot(*(((d.boxes[:, :2] + d.boxes[:, 2:]) / 2 - (w / 2, h / 2)).T))))
            chip = face_crop(tilted, d.boxes[i], d.keypoints[i], 1.0, 150, "dlib_chip", fit)
            assert chip.shape == (150, 150, 3)
            yield cv2.copyMakeBorder(chip, 75, 75, 75, 75, cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("fit", [(0, 1), (0, 1, 3)])
def test_chip_puts_the_eyes_where_dlib_puts_them(models, shared_data, fit):
    """An independent landmarker: dlib's own 5-point predictor (face_recognition's) finds the eye centres on our
    chips where dlib's chip template has them, (47.7, 47.1) and (100.3, 47.1), within 3.5 px on average. Single faces
    are off by up to ~9 px: BlazeFace's keypoints are coarse (2.3 chip px per input px of its 128x128 input)."""
    dlib = pytest.importorskip("dlib", reason="needs the face_recognition peer (`make peer`)")
    frm = pytest.importorskip("face_recognition_models")
    hog, shape5 = dlib.get_frontal_face_detector(), dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    det, _ = models
    want, errors = np.array([[47.7, 47.1], [100.3, 47.1]]), []
    for frame in _chips(det, shared_data, fit):
        rgb = np.ascontiguousarray(frame[..., ::-1])
        (rect,) = hog(rgb, 1)
        s = shape5(rgb, rect)
        p = np.array([[s.part(k).x, s.part(k).y] for k in range(5)], float) - 75
        errors.append(np.abs(np.array([(p[2] + p[3]) / 2, (p[0] + p[1]) / 2]) - want))
    errors = np.stack(errors)
    assert errors.mean() < 3.5 and errors.max() < 10, errors.round(1)


def test_chip_puts_blazeface_eyes_on_the_template(models, shared_data):
    """The template holds BlazeFace's own keypoints: run again on the chips, it finds the eyes on the template's eye
    points within 4 px on average (eyes-only fit; re-detection noise included)."""
    from edge.vision.templates import TEMPLATES

    det, _ = models
    want, errors = np.asarray(TEMPLATES["dlib_chip"].points[:2]), []
    for frame in _chips(det, shared_data, (0, 1)):
        again = det.detect(frame)
        errors.append(np.abs(again.keypoints[int(np.argmax(again.scores))][:2] - 75 - want))
    assert np.stack(errors).mean() < 4.0, np.stack(errors).round(1)


def test_chip_templates_scale_to_the_embedder_size():
    from edge.vision.templates import TEMPLATES

    pts, idx = TEMPLATES["arcface_112"].target(224)
    assert idx == (0, 1, 3) and np.allclose(pts[0], (76.5892, 103.3926))
    pts, idx = TEMPLATES["dlib_chip"].target(150, fit=(0, 1, 3))
    assert idx == (0, 1, 3) and len(pts) == 3
