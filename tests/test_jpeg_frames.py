"""MJPEG sources read as JPEG packets (edge.capture.jpeg): decoded only as far as the loop needs, on real footage."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.capture import Capture
from edge.capture.jpeg import JpegFrame
from edge.capture.opencv import OpenCVSource
from edge.config import parse_config
from edge.faces.enroll import EnrollRules, check_and_embed
from edge.faces.gallery import Gallery
from edge.images import read_image, video_frames
from edge.loop.frames import LatestFrame
from edge.loop.motion import MotionGate
from edge.preprocess import letterbox
from edge.site import build_loop
from edge.vision.detections import iou_matrix
from edge.vision.motion import MotionConfig
from tests.fixtures.events import ListSink

GARBAGE = np.frombuffer(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, np.uint8)  # a JPEG start, then nonsense


def meta(i):
    return {"frame_id": i, "frame_time": i / 30}


def write_mjpg(path, frames, fps=30.0):
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        out.write(f)
    out.release()
    return path


def jpeg(image) -> JpegFrame:
    return JpegFrame(cv2.imencode(".jpg", image)[1].reshape(-1), (image.shape[1], image.shape[0]))


def read_all(path, jpeg_frames: bool) -> list:
    source = OpenCVSource(str(path), jpeg_frames=jpeg_frames)
    source.open()
    frames = []
    while (f := source.read()) is not None:
        frames.append(f)
    source.close()
    return frames


def passer_by(media) -> list[np.ndarray]:
    """1 s of a still real scene, 2 s of the carphone clip crossing it (3 px a frame), 1 s of the scene again."""
    scene = letterbox(read_image(media("astronaut"))[300:, :], 640, 480)
    clip = [f for _, f in video_frames(media("carphone"), limit=60)]
    frames = [scene] * 30
    for i, f in enumerate(clip):
        frame = scene.copy()
        frame[200:344, 60 + 3 * i : 236 + 3 * i] = f
        frames.append(frame)
    return frames + [scene] * 30


def doorbell(zoo, tmp_path, source="unused", **kw):
    cfg = parse_config(
        {
            "runtime": {"models_dir": str(zoo)},
            "source": {"uri": str(source)},
            "gallery": {"path": str(tmp_path / "g.db")},
            "events": {"stdout": False},
            **kw,
        }
    )
    return build_loop(cfg, [ListSink()], Capture(cfg.source) if source != "unused" else None)


def test_an_mjpg_file_is_read_as_packets_that_decode_like_ffmpeg(media, tmp_path):
    frames = [letterbox(f, 640, 480) for _, f in video_frames(media("carphone"), limit=10)]
    video = write_mjpg(tmp_path / "faces.avi", frames)
    packets, decoded = read_all(video, True), read_all(video, False)
    assert len(packets) == len(decoded) == 10
    assert all(isinstance(p, JpegFrame) and p.size == (640, 480) for p in packets)
    for p, d in zip(packets, decoded):  # libjpeg vs FFmpeg's MJPEG decoder: the same picture within rounding
        assert np.abs(p.decoded().astype(np.int16) - d).mean() < 2
    assert packets[0].grey(160).shape == (120, 160) and packets[0].grey(100).shape == (120, 160)
    assert packets[0].grey(320).shape == (240, 320)
    h264 = OpenCVSource(str(media("carphone")))  # not MJPEG: FFmpeg decodes, as before
    h264.open()
    assert h264.packets is None and isinstance(h264.read(), np.ndarray)
    h264.close()


def test_the_grey_copy_gives_the_same_motion_decisions_as_the_full_frame(media, tmp_path):
    video = write_mjpg(tmp_path / "passer.avi", passer_by(media))
    full, small = MotionGate(MotionConfig()), MotionGate(MotionConfig())
    agree, ious, moving = 0, [], 0
    for p, d in zip(read_all(video, True), read_all(video, False)):
        a, b = small.check(p, tracking=True), full.check(d, tracking=True)
        agree += a == b
        moving += b
        if a and b and small.boxes is not None and full.boxes is not None and len(small.boxes) and len(full.boxes):
            ious.append(iou_matrix(small.boxes, full.boxes).max())
    assert 50 <= moving <= 100  # discriminating footage: still, moving, still
    assert agree >= 0.95 * 120
    assert np.median(ious) > 0.7  # and the moving region is the same box, in full-frame pixels


def test_frames_the_gate_holds_back_are_never_decoded_in_full(zoo, media, tmp_path):
    still = letterbox(read_image(media("astronaut")), 640, 480)
    loop = doorbell(zoo, tmp_path, write_mjpg(tmp_path / "still.avi", [still] * 90), motion={})
    stats = loop.run()
    assert loop.capture.source.packets == (640, 480)
    assert stats["frames"] + loop.capture.undecoded == 90 and stats["frames"] >= 28  # every 3rd looked at
    detect, decode = stats["stages"]["detect"]["n"], stats["stages"]["decode"]["n"]
    assert decode == detect and 6 <= detect <= 7  # the keep-alive runs only: decoded, then detected
    assert stats["stages"]["motion"]["n"] == stats["frames"]


@pytest.mark.parametrize("motion", [None, {}])
def test_a_jpeg_that_does_not_decode_is_rejected_and_the_loop_goes_on(zoo, media, tmp_path, motion):
    loop = doorbell(zoo, tmp_path, motion=motion)
    loop.step(JpegFrame(GARBAGE, (640, 480)), meta(1))
    (rejected,) = loop.bus.sinks[0].events
    assert rejected["type"] == "frame_rejected" and "JPEG frame does not decode" in rejected["reason"]
    obama = jpeg(letterbox(read_image(media("obama")), 640, 480))
    for i in range(2, 17):  # gated: the broken frame took the keep-alive's turn; the next comes 15 frames on
        loop.step(obama, meta(i))
    assert loop.timer.summary()["detect"]["n"] == (1 if motion is not None else 15) and loop.app.tracker.tracks


def test_a_still_visitor_in_jpeg_frames_stays_one_recognised_track(zoo, media, tmp_path):
    obama = letterbox(read_image(media("obama")), 640, 480)
    loop = doorbell(zoo, tmp_path, motion={"keepalive_frames": 15}, thresholds={"min_votes": 1, "max_attempts": 1})
    vec, why = check_and_embed(loop.app.detector, loop.app.embedder, obama, EnrollRules())
    assert why == "ok"
    Gallery(loop.app.gallery.path).add("Barack Obama", loop.app.embedder.name, vec)
    packet = jpeg(obama).data
    for i in range(1, 151):  # 5 s at 30 fps of a visitor standing still, each frame its own packet
        loop.step(JpegFrame(packet.copy(), (640, 480)), meta(i))
    events = loop.bus.sinks[0].events
    assert [(e["type"], e["identity"]) for e in events] == [("face_recognized", "Barack Obama")]
    summary = loop.timer.summary()
    assert len(loop.app.tracker.tracks) == 1 and summary["detect"]["n"] == summary["decode"]["n"] == 10


def test_the_latest_frame_is_decoded_for_its_readers(media):
    latest = LatestFrame()
    latest.value = (jpeg(read_image(media("obama"))), meta(3))
    image, m = latest.get()
    assert isinstance(image, np.ndarray) and image.shape == read_image(media("obama")).shape and m == meta(3)
    assert [i.shape for i in latest.images()] == [image.shape]
    latest.value = (JpegFrame(GARBAGE, (640, 480)), meta(4))
    assert latest.get() is None and latest.images() == []
