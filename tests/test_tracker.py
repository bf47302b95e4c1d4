"""IoU tracker and the embedding cadence (creation, every N frames, a face that grows or sharpens), on real photos."""

import cv2
import numpy as np

from edge.vision.detections import Detections
from edge.vision.tracker import IouTracker, face_sharpness


def dets(*boxes):
    b = np.array(boxes, np.float32).reshape(-1, 4)
    return Detections(boxes=b, scores=np.ones(len(b), np.float32), class_ids=np.zeros(len(b), np.int32))


def test_a_track_goes_to_its_best_overlap_and_the_other_face_gets_a_new_id():
    tr = IouTracker(iou=0.3, max_missed=5)
    d1, _ = tr.update(dets([100, 100, 200, 200]), 1)
    # two faces now: one nearly where the track was, one overlapping it less
    d2, _ = tr.update(dets([150, 100, 250, 200], [105, 100, 205, 200]), 2)
    assert d2.track_ids[1] == d1.track_ids[0] and d2.track_ids[0] not in d1.track_ids
    assert len(tr.tracks) == 2


def test_a_face_that_jumps_further_than_the_iou_gate_is_a_new_track():
    tr = IouTracker(iou=0.3, max_missed=5)
    d1, _ = tr.update(dets([0, 0, 100, 100]), 1)
    d2, _ = tr.update(dets([80, 80, 180, 180]), 2)  # IoU 0.02
    assert d2.track_ids[0] != d1.track_ids[0]


def test_track_bookkeeping_hits_and_flush():
    tr = IouTracker()
    for f in range(1, 6):
        tr.update(dets([10 + f, 10, 60 + f, 60]), f)
    (t,) = tr.tracks.values()
    assert t.hits == 5 and t.first_frame == 1 and t.last_frame == 5
    assert [x.id for x in tr.flush()] == [t.id] and not tr.tracks


def test_sharpness_tells_a_crisp_face_from_a_blurred_one(media):
    img = cv2.imread(str(media("obama")))
    box = np.array([img.shape[1] * 0.3, img.shape[0] * 0.15, img.shape[1] * 0.7, img.shape[0] * 0.55])
    crisp = face_sharpness(img, box)
    blurred = face_sharpness(cv2.GaussianBlur(img, (0, 0), 4), box)
    assert crisp > 3 * blurred > 0
    # half-size frame, same face: compared at one scale, so not several times "sharper" or "blurrier"
    half = face_sharpness(cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), box / 2)
    assert 0.4 < half / crisp < 2.5


def test_sharpness_of_boxes_outside_or_degenerate_is_zero():
    img = np.random.default_rng(0).integers(0, 255, (100, 100, 3), np.uint8)
    assert face_sharpness(img, np.array([200, 200, 300, 300])) == 0.0
    assert face_sharpness(img, np.array([50, 50, 52, 90])) == 0.0
    assert face_sharpness(img, np.array([-20, -20, 50, 50])) > 0  # clipped to the frame, still measured
    assert face_sharpness(img[..., 0], np.array([0, 0, 50, 50])) > 0  # grey frames too


def test_tracker_keeps_ids_across_moving_boxes_and_ends_tracks():
    tr = IouTracker(iou=0.3, max_missed=2)
    a = Detections(
        boxes=np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32),
        scores=np.ones(2, np.float32),
        class_ids=np.zeros(2, np.int32),
    )
    d1, _ = tr.update(a, 1)
    moved = a.with_(boxes=a.boxes + 2)
    d2, ended = tr.update(moved, 2)
    assert list(d1.track_ids) == list(d2.track_ids) and not ended
    _, ended = tr.update(Detections(), 3)
    _, ended = tr.update(Detections(), 4)
    assert not ended
    _, ended = tr.update(Detections(), 5)
    assert sorted(t.id for t in ended) == sorted(d1.track_ids.tolist())
    d3, _ = tr.update(a, 6)
    assert set(d3.track_ids).isdisjoint(set(d1.track_ids))  # new faces, new ids
