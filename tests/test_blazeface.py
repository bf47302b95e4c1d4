"""BlazeFace decoding on real photos through the built INT8 detector: anchors, scores, boxes, 6 keypoints, weighted
NMS and the letterbox mapping back to frame pixels."""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import EdgekitError
from edge.images import read_image
from edge.vision.decoders.blazeface import Decoder, ssd_anchors


@pytest.fixture(scope="module")
def detector(zoo):
    from edge.faces.detector import FaceDetector

    return FaceDetector(zoo / "blazeface_short.card.json")


def test_anchor_grids_match_the_models():
    short = ssd_anchors(128, [8, 16, 16, 16], 2)
    assert short.shape == (16 * 16 * 2 + 8 * 8 * 6, 2)  # 896: the short-range model's box count
    assert np.allclose(short[0], [0.5 / 16, 0.5 / 16]) and np.allclose(short[1], short[0])  # 2 anchors per cell
    assert np.allclose(short[512], [0.5 / 8, 0.5 / 8])  # the 8x8 grid starts after 16*16*2 anchors, 6 per cell
    assert np.allclose(short[512:518], short[512])
    full = ssd_anchors(192, [4], 1)
    assert full.shape == (48 * 48, 2) and full.min() > 0 and full.max() < 1


def _check_face(dets, image):
    h, w = image.shape[:2]
    box, kp = dets.boxes[0], dets.keypoints[0]
    assert 0 <= box[0] < box[2] <= w and 0 <= box[1] < box[3] <= h
    x1, y1, x2, y2 = box
    # eyes, nose tip and mouth are inside the box; the subject's right eye is on the image's left
    assert ((kp[:4, 0] > x1) & (kp[:4, 0] < x2) & (kp[:4, 1] > y1) & (kp[:4, 1] < y2)).all()
    assert kp[0, 0] < kp[2, 0] < kp[1, 0]
    assert max(kp[0, 1], kp[1, 1]) < kp[2, 1] < kp[3, 1]  # eyes above the nose above the mouth
    assert kp[4, 0] < kp[0, 0] and kp[5, 0] > kp[1, 0]  # ear tragions outside the eyes


def test_one_face_each_on_real_photos(detector, media):
    for name in ("obama", "astronaut", "biden"):
        image = read_image(media(name))
        dets = detector.detect(image)
        assert len(dets) == 1, name
        assert dets.keypoints.shape == (1, 6, 2) and dets.scores[0] > 0.8
        _check_face(dets, image)
    astronaut = read_image(media("astronaut"))
    box = detector.detect(astronaut).boxes[0]
    assert box[3] < astronaut.shape[0] * 0.5  # her face is in the upper half of the picture


def test_boxes_follow_the_face_through_letterbox_padding_and_scale(detector, media):
    """The same face pasted into a wide canvas at an offset, and at half size: boxes and keypoints move with it."""
    face = read_image(media("obama"))
    ref = detector.detect(face)
    h, w = face.shape[:2]
    canvas = np.full((h + 100, w * 2, 3), 90, np.uint8)  # wide: letterboxed with bars above and below
    canvas[60 : 60 + h, 300 : 300 + w] = face
    moved = detector.detect(canvas)
    assert len(moved) == 1
    side = ref.boxes[0, 2] - ref.boxes[0, 0]
    assert np.abs(moved.boxes[0] - (ref.boxes[0] + [300, 60, 300, 60])).max() < 0.08 * side
    # keypoints: the face covers half as many input pixels in the wide canvas, so allow about one input pixel more
    assert np.abs(moved.keypoints[0, :4] - (ref.keypoints[0, :4] + [300, 60])).max() < 0.12 * side
    import cv2

    half = detector.detect(cv2.resize(face, (w // 2, h // 2), interpolation=cv2.INTER_AREA))
    assert np.abs(half.boxes[0] * 2 - ref.boxes[0]).max() < 0.08 * side


def test_two_people_two_detections_after_weighted_nms(detector, media):
    """Hundreds of anchors fire on two faces; weighted NMS leaves one detection per face."""
    import cv2

    a, b = read_image(media("obama")), read_image(media("biden"))
    h = min(a.shape[0], b.shape[0])
    pair = np.hstack(
        [cv2.resize(a, (a.shape[1] * h // a.shape[0], h)), cv2.resize(b, (b.shape[1] * h // b.shape[0], h))]
    )
    dets = detector.detect(pair)
    assert len(dets) == 2
    left, right = np.sort((dets.boxes[:, 0] + dets.boxes[:, 2]) / 2)
    assert left < pair.shape[1] / 2 < right


def test_no_face_no_detections(detector):
    for image in (np.zeros((480, 640, 3), np.uint8), np.full((300, 300, 3), 200, np.uint8)):
        dets = detector.detect(image)
        assert len(dets) == 0 and dets.keypoints.shape == (0, 6, 2) and dets.boxes.shape == (0, 4)


def test_scores_are_probabilities_over_the_threshold(detector, media):
    image = read_image(media("astronaut"))
    loose = detector.decoder.score_threshold
    try:
        detector.decoder.score_threshold = 0.05
        many = detector.detect(image)
        detector.decoder.score_threshold = 0.999999
        none = detector.detect(image)
    finally:
        detector.decoder.score_threshold = loose
    assert len(many) >= 1 and ((many.scores >= 0.05) & (many.scores <= 1)).all()
    assert len(none) == 0


def test_a_card_whose_anchors_do_not_fit_the_model_is_named(zoo):
    from edge.card import load_card
    from edge.preprocess import Transform  # noqa: F401  (the decoder maps through one)

    card = load_card(zoo / "blazeface_short.card.json")
    card.decoder.params["strides"] = [8, 16]
    dec = Decoder(card)
    outputs = [np.zeros((1, 896, 16), np.float32), np.zeros((1, 896, 1), np.float32)]
    with pytest.raises(EdgekitError, match="blazeface_short.*896 boxes"):
        dec(outputs, None)
