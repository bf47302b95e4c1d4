"""The loop frame by frame on real photos through the zoo: grey cameras, a resolution change, JPEG crops, a gallery
enrolled while the loop runs, telemetry."""

import cv2
import numpy as np
import pytest

from edge.config import parse_config
from edge.faces.enroll import EnrollRules, check_and_embed
from edge.faces.gallery import Gallery
from edge.images import read_image
from edge.site import build_loop
from tests.fixtures.events import ListSink


def meta(i):
    return {"frame_id": i, "frame_time": float(i)}


@pytest.fixture
def loop(zoo, tmp_path):
    cfg = parse_config(
        {
            "runtime": {"models_dir": str(zoo)},
            "gallery": {"path": str(tmp_path / "g.db")},
            "source": {"uri": "unused"},
            "events": {"crops_dir": str(tmp_path / "crops")},
            "thresholds": {"min_votes": 1, "max_attempts": 1},
        }
    )
    return build_loop(cfg, [ListSink()])


def test_grey_frames_are_processed_like_colour_ones(loop, media):
    grey = cv2.cvtColor(read_image(media("obama")), cv2.COLOR_BGR2GRAY)
    loop.step(grey, meta(1))
    loop.step(grey[..., None], meta(2))
    assert loop.frames == 2 and loop.checks.rejected == 0 and len(loop.app.tracker.tracks) == 1


def test_a_resolution_change_ends_the_tracks_of_the_old_frames(loop, media):
    loop.step(read_image(media("obama")), meta(1))
    (old,) = loop.app.tracker.tracks
    loop.step(read_image(media("astronaut")), meta(2))
    types = [e["type"] for e in loop.bus.sinks[0].events]
    assert "frame_size_changed" in types
    left = [e for e in loop.bus.sinks[0].events if e["type"] == "face_left"]
    assert [e["track_id"] for e in left] == [old] and old not in loop.app.tracker.tracks


def test_decisions_carry_a_jpeg_crop_of_the_face(loop, media):
    loop.step(read_image(media("obama")), meta(1))
    (event,) = [e for e in loop.bus.sinks[0].events if e["type"] == "face_unknown"]  # empty gallery: a stranger
    crop = cv2.imread(event["crop"])
    assert crop is not None and crop.shape[0] == crop.shape[1] >= 112


def test_someone_enrolled_while_the_loop_runs_is_recognised_on_the_next_track(loop, media):
    obama = read_image(media("obama"))
    loop.step(obama, meta(1))
    assert [e["type"] for e in loop.bus.sinks[0].events] == ["face_unknown"]
    # enrolled from this very photo: the test is about the loop seeing a gallery change, not about a hard pair
    vec, why = check_and_embed(loop.app.detector, loop.app.embedder, obama, EnrollRules())
    assert why == "ok"
    # another connection, as `faces enroll`
    Gallery(loop.app.gallery.path).add("Barack Obama", loop.app.embedder.name, vec)
    loop.step(np.zeros((obama.shape[0], obama.shape[1] + 2, 3), np.uint8), meta(2))  # new size: tracks end
    loop.step(cv2.resize(obama, (obama.shape[1] + 2, obama.shape[0])), meta(3))
    recognised = [e for e in loop.bus.sinks[0].events if e["type"] == "face_recognized"]
    assert len(recognised) == 1 and recognised[0]["identity"] == "Barack Obama"


def test_telemetry_reports_rates_stages_and_counts(loop, media):
    img = read_image(media("obama"))
    for i in range(1, 6):
        loop.step(img, meta(i))
    loop.step(np.zeros((4, 4, 3), np.uint8), meta(6))
    t = loop.telemetry()
    assert t["frames"] == 5 and t["rejected"] == 1 and t["tracks"] == 1 and t["face_unknown"] == 1
    assert t["fps"] > 0 and t["stages"]["detect"]["n"] == 5 and t["peak_rss_mb"] > 0


def test_a_stream_of_bad_frames_is_reported_once_per_problem_not_per_frame(loop, media):
    for i in range(1, 301):
        loop.step(np.zeros((480, 640, 3), np.float32), meta(i))
    loop.step(np.zeros((480, 640, 4), np.uint8), meta(301))
    loop.step(read_image(media("obama")), meta(302))  # and the loop goes on
    rejected = [e for e in loop.bus.sinks[0].events if e["type"] == "frame_rejected"]
    assert [e["reason"].split()[1] for e in rejected] == ["dtype", "shape"]
    assert rejected[1]["frames"] == 300  # the first report plus 299 quiet ones, then the new problem
    assert loop.checks.rejected == 301 and loop.frames == 1


def test_old_crops_are_pruned_to_the_configured_number(zoo, tmp_path, media):
    crops = tmp_path / "crops"
    crops.mkdir()
    for i in range(10):  # crops from earlier runs (names sort by time)
        (crops / f"{1000 + i}-1-1.jpg").write_bytes(b"old")
    cfg = parse_config(
        {
            "runtime": {"models_dir": str(zoo)},
            "gallery": {"path": str(tmp_path / "g.db")},
            "source": {"uri": "unused"},
            "events": {"crops_dir": str(crops), "crops_keep": 3},
            "thresholds": {"min_votes": 1, "max_attempts": 1},
        }
    )
    loop = build_loop(cfg, [ListSink()])
    loop.step(read_image(media("obama")), meta(1))
    (event,) = [e for e in loop.bus.sinks[0].events if e["type"] == "face_unknown"]
    left = sorted(p.name for p in crops.iterdir())
    assert left == ["1008-1-1.jpg", "1009-1-1.jpg", event["crop"].rsplit("/", 1)[1]]


def test_live_reconfiguration_applies_whole_or_not_at_all(loop):
    from edge.errors import EdgekitError

    assert loop.reconfigure({"thresholds": {"recognize": 0.7, "instant": 0.8}, "tracking": {"max_missed": 3}}) == {
        "applied": ["thresholds", "tracking"]
    }
    assert loop.app.vote.t.recognize == 0.7 and loop.app.tracker.max_missed == 3
    assert loop.cfg.thresholds.instant == loop.app.cfg.thresholds.instant == 0.8
    # one bad value: nothing of the request is applied, and the reply names the key
    with pytest.raises(EdgekitError, match="key 'thresholds.unknown'"):
        loop.reconfigure({"tracking": {"max_missed": 9}, "thresholds": {"unknown": "low"}})
    assert loop.app.tracker.max_missed == 3
    with pytest.raises(EdgekitError, match="unknown <= recognize"):
        loop.reconfigure({"thresholds": {"unknown": 0.75}})
    with pytest.raises(EdgekitError, match="source cannot change while running"):
        loop.reconfigure({"source": {"uri": "rtsp://elsewhere"}, "thresholds": {"recognize": 0.65}})
    assert loop.app.vote.t.recognize == 0.7 and loop.cfg.source.uri == "unused"
    with pytest.raises(EdgekitError, match="key 'thresholds.recognise'"):
        loop.reconfigure({"thresholds": {"recognise": 0.65}})  # a misspelt key is named, not ignored


def test_enrol_from_a_picture_while_running_and_refusals_say_why(loop, media):
    from edge.errors import EdgekitError

    assert loop.app.enroll("Barack Obama", read_image(media("obama"))) == 1
    assert Gallery(loop.app.gallery.path).identities() == {"Barack Obama": 1}
    with pytest.raises(EdgekitError, match=r"picture refused \(no face found\)"):
        loop.app.enroll("nobody", np.full((240, 320, 3), 90, np.uint8))


def test_strict_size_rejects_frames_of_another_resolution_with_the_fix_named(zoo, tmp_path, media):
    cfg = parse_config(
        {
            "runtime": {"models_dir": str(zoo)},
            "gallery": {"path": str(tmp_path / "g.db")},
            "source": {"uri": "0", "width": 640, "height": 480, "strict_size": True},
        }
    )
    loop = build_loop(cfg, [ListSink()])
    loop.step(np.zeros((720, 1280, 3), np.uint8), meta(1))
    loop.step(np.zeros((480, 640, 3), np.uint8), meta(2))
    (event,) = loop.bus.sinks[0].events
    assert event["type"] == "frame_rejected" and "frame size 1280x720, expected 640x480" in event["reason"]
    assert "strict_size" in event["reason"] and loop.frames == 1
