"""The doorbell through the real zoo models on real footage: enrolment rules, the loop, the demo, the config."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge.config import load_config, parse_config
from edge.errors import EdgekitError
from edge.faces.detector import FaceDetector
from edge.faces.embedder import FaceEmbedder
from edge.faces.enroll import EnrollRules, check_and_embed
from edge.faces.gallery import Gallery
from edge.images import read_image
from edge.site import build_loop
from tests.fixtures.events import ListSink


@pytest.fixture(scope="module")
def models(zoo):
    return FaceDetector(zoo / "blazeface_short.card.json"), FaceEmbedder(zoo / "faceres.card.json")


def test_enrolment_rejections_say_why(models, media):
    det, emb = models
    rules = EnrollRules()
    obama = read_image(media("obama"))
    vec, why = check_and_embed(det, emb, obama, rules)
    assert why == "ok" and vec.shape == (1024,) and abs(np.linalg.norm(vec) - 1) < 1e-5
    assert check_and_embed(det, emb, np.full((480, 640, 3), 127, np.uint8), rules)[1] == "no face found"
    biden = read_image(media("biden"))
    heads = [cv2.resize(im[: im.shape[1]], (320, 320)) for im in (obama, biden)]  # top squares: head and shoulders
    two = np.hstack(heads)
    assert check_and_embed(det, emb, two, rules)[1] == "2 faces found, enrollment needs exactly one"
    assert "too blurred" in check_and_embed(det, emb, cv2.GaussianBlur(obama, (0, 0), 12), rules)[1]
    tiny = cv2.resize(obama, (120, 150))
    assert "too small" in check_and_embed(det, emb, tiny, rules)[1]


def site(zoo, tmp_path, **kw):
    return parse_config(
        {
            "runtime": {"models_dir": str(zoo)},
            "gallery": {"path": str(tmp_path / "g.db")},
            "source": {"uri": "unused"},
            **kw,
        }
    )


def test_loop_recognises_an_enrolled_caller_once_per_track(zoo, media, tmp_path):
    cfg = site(zoo, tmp_path, source={"uri": str(media("carphone"))})
    det, emb = FaceDetector(cfg.card("blazeface_short")), FaceEmbedder(cfg.card("faceres"))
    cap = cv2.VideoCapture(str(media("carphone")))
    frames = [cap.read()[1] for _ in range(120)]
    vec, why = check_and_embed(det, emb, frames[110], EnrollRules(min_face_px=32))  # a 176x144 clip: small faces
    assert why == "ok"
    Gallery(cfg.gallery.path).add("caller", "faceres", vec)
    sink = ListSink()
    stats = build_loop(cfg, [sink]).run()
    recognised = [e for e in sink.events if e["type"] == "face_recognized"]
    assert len(recognised) == 1 and recognised[0]["identity"] == "caller"
    assert {"track_id", "score", "box", "frame_id", "frame_time"} <= set(recognised[0])
    assert stats["frames"] == 120 and set(stats["stages"]) >= {"capture", "detect", "track", "align", "embed", "match"}
    # embedded on creation and then every 10 frames, not on every frame
    assert stats["stages"]["embed"]["n"] <= 3


def test_a_stranger_is_unknown(zoo, media, tmp_path):
    cfg = site(zoo, tmp_path, source={"uri": str(media("carphone"))})
    det, emb = FaceDetector(cfg.card("blazeface_short")), FaceEmbedder(cfg.card("faceres"))
    Gallery(cfg.gallery.path).add(
        "obama", "faceres", check_and_embed(det, emb, read_image(media("obama")), EnrollRules())[0]
    )
    sink = ListSink()
    build_loop(cfg, [sink]).run()
    types = [e["type"] for e in sink.events]
    assert "face_unknown" in types and "face_recognized" not in types and types[-1] == "face_left"


def test_wrong_frames_become_events_and_the_loop_goes_on(zoo, tmp_path, media):
    cfg = site(zoo, tmp_path)
    sink = ListSink()
    agent = build_loop(cfg, [sink])
    agent.step(np.zeros((480, 640, 3), np.float32), {"frame_id": 1, "frame_time": 0})
    agent.step(np.zeros((2, 2, 3), np.uint8), {"frame_id": 2, "frame_time": 0})
    agent.step(read_image(media("obama")), {"frame_id": 3, "frame_time": 0})
    assert [e["type"] for e in sink.events][:2] == ["frame_rejected", "frame_rejected"]
    assert agent.frames == 1 and agent.checks.rejected == 2 and len(agent.app.tracker.tracks) == 1


def test_config_errors_name_the_key(tmp_path):
    p = tmp_path / "site.yaml"
    p.write_text("source: {uri: x, fps: -3}\n")
    with pytest.raises(EdgekitError, match="key 'source.fps'"):
        load_config(p)
    p.write_text("detectr: {model: x}\n")
    with pytest.raises(EdgekitError, match="key 'detectr'.*remove it or check its spelling"):
        load_config(p)
    p.write_text("runtime: {accelerator: {type: coral, device: 'usb;0'}}\n")
    with pytest.raises(EdgekitError, match="runtime.accelerator.coral.device"):
        load_config(p)
    p.write_text("thresholds: {recognize: 0.3, unknown: 0.5}\n")
    with pytest.raises(EdgekitError, match="unknown <= recognize"):
        load_config(p)


def test_shipped_example_config_is_valid(zoo):
    from pathlib import Path

    from edge.apps.doorbell.policy import card_thresholds
    from edge.faces.embedder import FaceEmbedder

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "doorbell.yaml")
    # no similarity threshold in the example: the LFW operating points come with the default embedder's card
    assert cfg.embedder.model == "dlib_resnet" and cfg.thresholds.model_fields_set == {"min_votes", "max_attempts"}
    t = card_thresholds(cfg.thresholds, FaceEmbedder(zoo / "dlib_resnet.card.json"))
    assert (t.recognize, t.unknown, t.instant, t.unlock) == (0.911, 0.882, 0.921, 0.921)


def test_missing_model_card_is_one_clear_line(tmp_path):
    cfg = parse_config({"runtime": {"models_dir": str(tmp_path)}, "gallery": {"path": str(tmp_path / "g.db")}})
    with pytest.raises(EdgekitError, match="blazeface_short.card.json: not found.*edgekit models build"):
        build_loop(cfg, [ListSink()])


def test_demo_shows_a_recognised_and_an_unknown_face(zoo, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "demo", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "EDGEKIT_MODELS": str(zoo)},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert {e["identity"] for e in events if e["type"] == "face_recognized"} == {"carphone caller", "Barack Obama"}
    assert any(e["type"] == "face_unknown" for e in events)
