"""Doorbell decisions and the matcher: pure logic (the tracker and the gallery: test_tracker, test_faces_gallery)."""

import numpy as np
import pytest

from edge.apps.doorbell.policy import DoorbellVote, Thresholds, needs_embedding
from edge.faces.matcher import Matcher
from edge.vision.tracker import Track

META = {"frame_id": 7, "frame_time": 1.0}


def track():
    return Track(1, np.array([0, 0, 10, 10], np.float32), 0, 0)


def test_instant_match_decides_at_once():
    bell, t = DoorbellVote(Thresholds()), track()
    e = bell.attempt(t, "ann", 0.9, META)
    assert e["type"] == "face_recognized" and e["identity"] == "ann" and e["track_id"] == 1
    assert bell.attempt(t, "ann", 0.95, META) is None  # one event per track decision


def test_two_votes_above_recognize_decide():
    bell, t = DoorbellVote(Thresholds(recognize=0.6, instant=0.8, unknown=0.5)), track()
    assert bell.attempt(t, "ann", 0.65, META) is None
    e = bell.attempt(t, "ann", 0.66, META)
    assert e["type"] == "face_recognized" and e["score"] == 0.66


def test_band_waits_then_unknown_after_max_attempts():
    bell, t = DoorbellVote(Thresholds(recognize=0.6, instant=0.8, unknown=0.5, max_attempts=3)), track()
    assert bell.attempt(t, "ann", 0.55, META) is None
    assert bell.attempt(t, "ann", 0.56, META) is None
    e = bell.attempt(t, "ann", 0.57, META)
    assert e["type"] == "face_unknown" and e["score"] == 0.57


def test_low_scores_vote_unknown_and_split_votes_wait():
    bell, t = DoorbellVote(Thresholds(recognize=0.6, instant=0.9, unknown=0.5, majority=0.6)), track()
    assert bell.attempt(t, "ann", 0.3, META) is None
    assert bell.attempt(t, None, -1.0, META)["type"] == "face_unknown"
    t2 = track()
    assert bell.attempt(t2, "ann", 0.7, META) is None
    assert bell.attempt(t2, "bob", 0.7, META) is None  # 50/50: no majority yet
    assert bell.attempt(t2, "ann", 0.7, META)["identity"] == "ann"


def test_a_face_that_leaves_undecided_is_reported_unknown_once_then_left():
    bell, t = DoorbellVote(Thresholds(recognize=0.6, instant=0.8, unknown=0.5, max_attempts=6)), track()
    assert bell.attempt(t, "ann", 0.55, META) is None and bell.attempt(t, "ann", 0.52, META) is None
    unknown, left = bell.end(t, META)
    assert unknown["type"] == "face_unknown" and unknown["undecided"] and unknown["score"] == 0.55
    assert left["type"] == "face_left" and left["identity"] == "unknown"
    decided = track()
    bell.attempt(decided, "ann", 0.9, META)
    assert [e["type"] for e in bell.end(decided, META)] == ["face_left"]  # already decided: no second decision
    never_looked_at = track()  # too small to embed, say
    assert [e["type"] for e in bell.end(never_looked_at, META)] == ["face_left"]


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="unknown <= recognize <= instant"):
        Thresholds(recognize=0.4, unknown=0.6)


def unit(rng, n, d=64):
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_matcher_takes_each_identitys_best_embedding_over_a_large_gallery():
    rng = np.random.default_rng(0)
    vectors = unit(rng, 30000)
    names = np.asarray([f"id{i % 10000}" for i in range(30000)], object)  # 10,000 identities x 3 embeddings
    m = Matcher(vectors, names)
    assert len(m) == 10000
    q = vectors[[5, 12345, 29999]] + 0.01 * unit(rng, 3)
    best, score = m.match(q / np.linalg.norm(q, axis=1, keepdims=True))
    assert list(best) == ["id5", "id2345", "id9999"] and (score > 0.99).all()
    brute = Matcher(vectors, names, prefilter_over=10**9)
    assert m.centroids is not None and brute.centroids is None
    near = vectors[rng.integers(0, 30000, 50)] + 0.08 * unit(rng, 50)  # another photo of an enrolled face
    a, b = (
        m.match(near / np.linalg.norm(near, axis=1, keepdims=True)),
        brute.match(near / np.linalg.norm(near, axis=1, keepdims=True)),
    )
    assert list(a[0]) == list(b[0]) and np.allclose(a[1], b[1])
    # a stranger: the shortlist may name another weak candidate, never a better score than brute force finds
    stranger = unit(rng, 50)
    assert (m.match(stranger)[1] <= brute.match(stranger)[1] + 1e-6).all()
    empty = Matcher(np.zeros((0, 64), np.float32), np.zeros(0, object))
    names0, s0 = empty.match(q)
    assert list(names0) == [None] * 3


def test_a_face_that_sharpens_is_embedded_again_before_its_turn():
    t = Track(1, np.array([0, 0, 100, 100], np.float32), 0, 0)
    assert needs_embedding(t, 0, every=10, grow=1.3, sharpness=50.0)  # on creation
    t.embedded_frame, t.embedded_area, t.embedded_sharpness = 0, t.area, 50.0
    assert not needs_embedding(t, 3, 10, 1.3, sharpness=60.0, sharpen=1.5)
    assert needs_embedding(t, 3, 10, 1.3, sharpness=80.0, sharpen=1.5)  # motion blur gone: a better look
    assert not needs_embedding(t, 3, 10, 1.3)  # no sharpness given: the clock and the size decide
    assert needs_embedding(t, 10, 10, 1.3, sharpness=10.0)


def test_embedding_cadence():
    t = Track(1, np.array([0, 0, 10, 10], np.float32), 0, 0)
    assert needs_embedding(t, 0, every=10, grow=1.3)
    t.embedded_frame, t.embedded_area = 0, t.area
    assert not needs_embedding(t, 5, 10, 1.3)
    assert needs_embedding(t, 10, 10, 1.3)
    t.box = np.array([0, 0, 12, 12], np.float32)  # 44% larger: the face came closer
    assert needs_embedding(t, 5, 10, 1.3)
