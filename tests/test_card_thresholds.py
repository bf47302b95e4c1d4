"""Each embedder scores on its own scale: its card declares its operating points, and a site config that leaves
thresholds out gets the card's (FaceRes's 0.60 under dlib_resnet recognised a stranger as a gallery identity)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edge.apps.base import AppContext
from edge.apps.doorbell.app import DoorbellApp
from edge.apps.doorbell.policy import Thresholds
from edge.bench.pipeline import NEVER_DECIDE
from edge.config import parse_config
from edge.errors import EdgekitError
from edge.faces.detector import FaceDetector
from edge.images import read_image
from edge.loop.reconfig import reconfigured
from edge.stats import StageTimer
from tests.fixtures.cards import edited_card


def _app(zoo, tmp_path, **site) -> DoorbellApp:
    cfg = parse_config({"runtime": {"models_dir": str(zoo)}, "gallery": {"path": str(tmp_path / "g.db")}, **site})
    return DoorbellApp(cfg, AppContext(lambda event: None, StageTimer(), threading.Lock()))


def test_a_site_without_thresholds_gets_the_embedders_own_and_strangers_stay_strangers(zoo, media, tmp_path):
    app = _app(zoo, tmp_path, embedder={"model": "dlib_resnet"})
    card = app.embedder.operating_points
    t = app.vote.t
    assert (t.recognize, t.unknown, t.instant, t.unlock) == (
        card["recognize"],
        card["unknown"],
        card["instant"],
        card["unlock"],
    )
    assert app.cfg.thresholds == t and app.learner.cfg.thresholds == t  # one set for the vote, the relay, learning
    detector = FaceDetector(zoo / "blazeface_short.card.json")
    vectors = {}
    for who in ("obama", "biden", "astronaut"):
        image = read_image(media(who))
        dets = detector.detect(image)
        vectors[who] = app.embedder.embed(image, dets[int(np.argmax(dets.scores))])[0]
    strangers = [float(vectors[a] @ vectors[b]) for a, b in (("obama", "biden"), ("obama", "astronaut"))]
    # on dlib_resnet's scale different people score far above FaceRes's 0.60 (the default before) ...
    assert min(strangers) > Thresholds().recognize
    # ... and below its own `unknown` point: a stranger is called unknown, not recognised
    assert max(strangers) < t.unknown


def test_what_the_site_sets_wins_key_by_key_and_survives_a_live_change(zoo, tmp_path):
    app = _app(zoo, tmp_path, embedder={"model": "dlib_resnet"}, thresholds={"recognize": 0.915, "min_votes": 3})
    card = app.embedder.operating_points
    assert app.vote.t.recognize == 0.915 and app.vote.t.min_votes == 3
    assert app.vote.t.unknown == card["unknown"] and app.vote.t.unlock == card["unlock"]
    # a live change elsewhere (the MQTT set_config) keeps the site's own keys and the card's for the rest
    site = parse_config({"runtime": {"models_dir": str(zoo)}, "embedder": {"model": "dlib_resnet"}})
    new, changed = reconfigured(site, {"tracking": {"iou": 0.4}}, DoorbellApp.live_sections)
    assert changed == ["tracking"] and new.thresholds.model_fields_set == set()
    new, _ = reconfigured(new, {"thresholds": {"max_attempts": 4}}, DoorbellApp.live_sections)
    app.applied(new)
    assert app.vote.t.recognize == card["recognize"] and app.vote.t.max_attempts == 4
    assert app.learner.cfg.thresholds == app.vote.t


def test_the_cards_points_move_aside_for_the_sites_own_and_never_break_its_order(zoo, tmp_path):
    # `edgekit bench pipeline --embedder dlib_resnet` failed to start: its never-deciding recognize 1.0 sat above the
    # card's unlock 0.921. A site that asks for a stricter recognize gets unlock and instant at least as strict...
    strict = _app(zoo, tmp_path, embedder={"model": "dlib_resnet"}, thresholds={"recognize": 0.95}).vote.t
    assert (strict.unknown, strict.recognize, strict.instant, strict.unlock) == (0.882, 0.95, 0.95, 0.95)
    never = _app(zoo, tmp_path, embedder={"model": "dlib_resnet"}, thresholds=NEVER_DECIDE).vote.t
    assert (never.unknown, never.recognize, never.instant, never.unlock) == (0.0, 1.0, 1.0, 1.0)
    # ... and one that accepts more gets an unknown band that still starts at or below its recognize
    loose = _app(zoo, tmp_path, embedder={"model": "dlib_resnet"}, thresholds={"recognize": 0.85}).vote.t
    assert (loose.unknown, loose.recognize, loose.instant, loose.unlock) == (0.85, 0.85, 0.921, 0.921)


def test_a_site_point_that_contradicts_the_cards_recognize_is_one_line_naming_both(zoo, tmp_path):
    with pytest.raises(EdgekitError, match=r"thresholds: .*recognize <= unlock.*embedder dlib_resnet's card.*too") as e:
        _app(zoo, tmp_path, embedder={"model": "dlib_resnet"}, thresholds={"unlock": 0.9})  # below its 0.911
    assert "\n" not in str(e.value)


def test_a_site_whose_own_thresholds_are_out_of_order_is_one_line_naming_them():
    with pytest.raises(EdgekitError, match=r"thresholds.*unknown <= recognize <= instant.*recognize.*instant") as e:
        parse_config({"embedder": {"model": "dlib_resnet"}, "thresholds": {"recognize": 0.93, "instant": 0.92}})
    assert "\n" not in str(e.value)


def test_given_thresholds_are_checked_at_once_and_a_card_without_points_keeps_the_defaults():
    with pytest.raises(ValueError, match="unknown <= recognize <= instant"):
        Thresholds(recognize=0.4, unknown=0.6)
    assert Thresholds(recognize=0.8).model_fields_set == {"recognize"}  # the rest waits for the card
    assert Thresholds().resolve(None) == Thresholds()
    with pytest.raises(EdgekitError, match="'thresholds.*0..1"):
        parse_config({"thresholds": {"unknown": -0.2}})


def test_a_card_without_operating_points_says_the_fallback_means_nothing_on_its_scale(zoo, tmp_path, caplog):
    from edge.apps.doorbell.policy import card_thresholds
    from edge.faces.embedder import FaceEmbedder

    # a user's own card, written before it was calibrated
    mine = edited_card(zoo / "faceres.card.json", tmp_path / "mine", lambda c: c["decoder"]["params"].pop("thresholds"))
    mine = FaceEmbedder(mine)
    with caplog.at_level("WARNING"):
        assert card_thresholds(Thresholds(), mine) == Thresholds()
    assert "declares no thresholds" in caplog.text and "faces calibrate --lfw" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert card_thresholds(Thresholds(recognize=0.3, unknown=0.2, instant=0.4), mine).recognize == 0.3
    assert not caplog.text  # the site calibrated it: nothing to say


def test_a_new_build_of_the_embedder_brings_its_own_operating_points_into_the_running_app(zoo, tmp_path):
    # found by probing: after a model update the loop kept the old card's points until it restarted
    app = _app(zoo, tmp_path, embedder={"model": "facenet"}, thresholds={"min_votes": 3, "unlock": 0.7})
    points = {"recognize": 0.43, "unknown": 0.31, "instant": 0.56, "unlock": 0.56}
    app.reload_model(
        "facenet",
        edited_card(
            zoo / "facenet.card.json", tmp_path / "new", lambda c: c["decoder"]["params"].update(thresholds=points)
        ),
    )
    t = app.vote.t
    assert (t.recognize, t.unknown, t.instant) == (0.43, 0.31, 0.56)
    assert t.unlock == 0.7 and t.min_votes == 3  # what the site set stays the site's
    assert app.cfg.thresholds == t and app.learner.cfg.thresholds == t


def test_a_build_that_feeds_the_network_differently_is_refused_over_an_enrolled_gallery(zoo, tmp_path):
    # found by probing: FaceNet's standardisation fix (prewhitened -> (x - 127.5) / 128) keeps the weights, so the
    # gallery's weights check let it in, yet the same photo embeds at cosine 0.68 (p5 on LFW) to its old vector
    from edge.faces.gallery import EmbedderTag, Gallery

    app = _app(zoo, tmp_path, embedder={"model": "facenet"})
    other = edited_card(zoo / "facenet.card.json", tmp_path / "new", lambda c: c["preprocess"].update(prewhiten=True))
    Gallery(tmp_path / "g.db").add("ada", EmbedderTag.of(app.embedder), np.eye(512, dtype=np.float32)[:1])
    with pytest.raises(EdgekitError, match="preprocess.*enrolled with"):
        app.reload_model("facenet", other)
    assert app.embedder.model.card.preprocess.prewhiten is False  # the running embedder stays
    Gallery(tmp_path / "g.db").remove("ada")
    app.reload_model("facenet", other)  # nobody enrolled: nothing to lose
    assert app.embedder.model.card.preprocess.prewhiten is True
