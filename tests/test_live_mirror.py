"""Live faces embedded once, with the mirror image's inference added only where the score can change a decision (the
card's test-time mirroring at about one inference per face): the band, the doorbell's two passes on real photos, and
on real LFW pairs no decision at the card's points moved against mirroring every face."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edge.apps.base import AppContext
from edge.apps.doorbell.app import DoorbellApp
from edge.apps.doorbell.policy import Thresholds
from edge.config import parse_config
from edge.images import read_image
from edge.stats import StageTimer


def test_the_band_runs_from_unknown_to_the_highest_point_widened_by_the_margin():
    t = Thresholds(unknown=0.85, recognize=0.9, instant=0.95, unlock=0.93)
    assert t.undecided_band(0.02) == pytest.approx((0.83, 0.97))
    t = Thresholds(unknown=0.85, recognize=0.9, instant=0.91, unlock=0.96)
    assert t.undecided_band(0.0) == pytest.approx((0.85, 0.96))  # unlock above instant: the relay's point counts
    assert Thresholds(unknown=0.5, recognize=0.6, instant=0.7).undecided_band(0.01) == pytest.approx((0.49, 0.71))


@pytest.fixture()
def dlib(zoo):
    if not (zoo / "dlib_resnet.card.json").is_file():
        pytest.skip(f"dlib_resnet not built in {zoo}: `edgekit models build dlib_resnet`")
    return zoo


def _doorbell(zoo, tmp_path, events, **site) -> DoorbellApp:
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = parse_config(
        {
            "runtime": {"models_dir": str(zoo)},
            "gallery": {"path": str(tmp_path / "g.db")},
            "embedder": {"model": "dlib_resnet", **site.pop("embedder", {})},
            **site,
        }
    )
    return DoorbellApp(cfg, AppContext(events.append, StageTimer(), threading.Lock()))


def _one_view_score(app, image) -> float:
    """What the first pass scores this photo's face against the gallery (one inference, no mirror image)."""
    dets = app.detector.detect(image)
    crop = app.embedder.crops(image, dets[int(np.argmax(dets.scores))])[0]
    return float(app.matcher().match(app.embedder.embed_once(crop)[None])[1][0])


def test_a_face_far_from_every_threshold_costs_one_inference(dlib, media, tmp_path):
    events = []
    app = _doorbell(dlib, tmp_path, events)
    image = read_image(media("obama"))
    app.enroll("obama", image)  # the gallery side is always mirrored, as the card says
    assert app.embedder.mirror and app.cfg.embedder.live_mirror == "undecided"
    assert app.cfg.embedder.mirror_margin is None and app.embedder.mirror_margin == 0.02  # the card's
    lo, hi = app.cfg.thresholds.undecided_band(app.embedder.mirror_margin)
    assert _one_view_score(app, image) > hi  # the enrolled photo itself: sure at one look
    app.process(image, {"frame_id": 1, "frame_time": 0.0})
    assert app.faces_embedded == 1 and app.faces_mirrored == 0
    assert "mirror" not in app.ctx.timer.summary()
    assert events[0].type == "face_recognized" and events[0].identity == "obama"


def test_a_face_in_the_band_gets_its_mirror_image_and_the_vote_sees_the_mirrored_score(dlib, media, tmp_path):
    events = []
    probe = _doorbell(dlib, tmp_path / "probe", [])
    image = read_image(media("obama"))
    probe.enroll("obama", image)
    once = _one_view_score(probe, image)
    assert once < 0.9995  # one view of the photo against its mirrored embedding: not the same vector
    # thresholds around that one-view score: the first pass lands in the band and cannot decide alone; with the
    # mirror image the face embeds exactly as enrolled (similarity 1), above `instant`
    top = (once + 1.0) / 2
    points = {"unknown": once - 0.01, "recognize": once, "instant": top, "unlock": top}
    app = _doorbell(dlib, tmp_path, events, thresholds=points)
    app.enroll("obama", image)
    app.process(image, {"frame_id": 1, "frame_time": 0.0})
    assert app.faces_embedded == 1 and app.faces_mirrored == 1
    assert app.ctx.timer.summary()["mirror"]["n"] == 1
    assert events[0].type == "face_recognized" and events[0].score == pytest.approx(1.0, abs=1e-4)
    assert events[0].unlock  # decided on the mirrored score, above `unlock`; the one-view score was below it


def test_the_sites_margin_overrides_the_cards(dlib, media, tmp_path):
    image = read_image(media("obama"))
    app = _doorbell(dlib, tmp_path, [], embedder={"mirror_margin": 0.1})  # the card's 0.02 leaves this face alone
    app.enroll("obama", image)
    assert app.cfg.thresholds.undecided_band(0.1)[1] > _one_view_score(app, image)
    app.process(image, {"frame_id": 1, "frame_time": 0.0})
    assert app.faces_mirrored == 1


def test_always_mirrors_every_live_face_and_no_mirror_card_never_does(dlib, media, tmp_path):
    image = read_image(media("obama"))
    always = _doorbell(dlib, tmp_path / "a", [], embedder={"live_mirror": "always"})
    always.enroll("obama", image)
    always.process(image, {"frame_id": 1, "frame_time": 0.0})
    assert always.faces_mirrored == 1
    plain = _doorbell(dlib, tmp_path / "b", [], embedder={"mirror": False}, thresholds={"recognize": 0.99})
    plain.enroll("obama", image)
    plain.process(image, {"frame_id": 1, "frame_time": 0.0})
    assert plain.faces_embedded == 1 and plain.faces_mirrored == 0


def test_on_real_lfw_pairs_mirroring_only_the_band_moves_no_decision_at_the_cards_points(dlib, shared_data, tmp_path):
    """The first 80 pairs of folds 1 and 2 through the full pipeline: the live scores (gallery mirrored, probe once,
    mirrored in the band) decide every pair as mirroring both sides does, at each of the card's operating points,
    while most probes take one inference."""
    from edge.cli.faces_lfw import live_report
    from edge.faces import lfw
    from edge.faces.detector import FaceDetector
    from edge.faces.embedder import FaceEmbedder

    root = shared_data / "faces" / "lfw"
    if not (root / "meta" / "pairs.txt").is_file():
        pytest.skip(f"needs LFW in {root}")
    pairs = lfw.read_pairs(root, folds=2, limit=40)
    cfg = parse_config({"runtime": {"models_dir": str(dlib)}, "embedder": {"model": "dlib_resnet"}})
    det = FaceDetector(cfg.card("blazeface_short"))
    full, once = FaceEmbedder(cfg.card("dlib_resnet")), FaceEmbedder(cfg.card("dlib_resnet"), mirror=False)
    vec = {}
    for name, emb in (("full", full), ("once", once)):
        cache = lfw.EmbeddingCache(tmp_path / "cache", lfw.pipeline_key(det, emb))
        vec[name] = lfw.embed_photos(pairs.photos(), pairs.images, lfw.pipeline_embed(det, emb), cache, name, False)
    report = live_report(cfg, full, pairs, vec["full"], vec["once"])
    assert report["pairs"] == 160
    assert sum(report["decisions_changed"].values()) == 0, report["decisions_changed"]
    assert 0 < report["second_view_share"] < 0.5, report["second_view_share"]
    lo, hi = report["band"]
    assert lo < min(full.operating_points.values()) and hi > max(full.operating_points.values())
