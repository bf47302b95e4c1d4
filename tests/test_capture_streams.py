"""Network cameras against real servers on loopback: GStreamer's RTSP server (H.264 from registry-shipped clips, TCP
and UDP) and an HTTP MJPEG server, with the faults real cameras show: a stall with the socket open, a resolution
change mid-stream, garbage in the stream, wrong paths and credentials."""

import os
import threading
import time

import numpy as np
import pytest

from edge.capture import Capture
from edge.capture.base import CaptureConfig
from edge.capture.urls import mask_url
from edge.errors import EdgekitError
from tests.stream_servers import MjpegServer, RtspServer, joined_clips, rtsp_missing

SECRET = "s3cret-Pa55"


@pytest.fixture(scope="module")
def rtsp_ok():
    why = rtsp_missing()
    if why:
        if os.environ.get("EDGEKIT_REQUIRE_RTSP") == "1":
            pytest.fail(why)
        pytest.skip(why)


def cfg(uri, **kw):
    return CaptureConfig(
        **{
            "uri": uri,
            "backoff_initial_s": 0.1,
            "backoff_max_s": 0.5,
            "open_timeout_s": 3.0,
            "read_timeout_s": 1.5,
            **kw,
        }
    )


def take(capture: Capture, n: int, on_frame=None, limit_s: float = 20.0) -> list:
    """The first n frames (or what came within limit_s)."""
    frames, end = [], time.monotonic() + limit_s
    stopper = threading.Timer(limit_s, capture.stop)
    stopper.start()
    try:
        for frame in capture.frames():
            frames.append(frame)
            if on_frame is not None:
                on_frame(len(frames), frame)
            if len(frames) >= n or time.monotonic() > end:
                capture.stop()
    finally:
        stopper.cancel()
    return frames


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_rtsp_serves_the_registry_clip_over_tcp_and_udp(rtsp_ok, media, transport):
    with RtspServer({"/door": media("carphone")}) as server:
        events = []
        frames = take(Capture(cfg(server.url(), transport=transport), emit=events.append), 60)
    assert len(frames) == 60 and frames[0].image.shape == (144, 176, 3)
    assert [f.frame_id for f in frames] == sorted(f.frame_id for f in frames)
    assert float(frames[-1].image.mean()) > 20  # decoded pictures, not grey error frames
    assert not [e for e in events if e["type"] != "source_restored"], events


def test_rtsp_resolution_change_mid_stream_keeps_frames_flowing(rtsp_ok, media, tmp_path):
    """carphone (176x144) then bikes (640x272) in ONE RTSP session (one MPEG-TS): a new SPS mid-stream. OpenCV's
    FFmpeg backend
    keeps handing out frames at the size the stream opened with (rescaled): no error, no reconnect, no stall."""
    sizes = joined_clips([media("carphone"), media("bikes")], tmp_path / "sizes.ts")
    with RtspServer({"/sizes": sizes}) as server:
        events = []
        frames = take(Capture(cfg(server.url("/sizes"), read_timeout_s=4.0), emit=events.append), 135)
    assert len(frames) == 135 and not events, events  # 120 frames of carphone, then bikes
    assert {f.image.shape for f in frames} == {(144, 176, 3)}
    carphone, bikes = frames[60].image.astype(float), frames[132].image.astype(float)
    assert np.abs(carphone - bikes).mean() > 20  # the second clip's pictures, scaled into the first one's size


def test_rtsp_camera_that_hangs_with_its_socket_open_is_a_read_timeout_then_recovers(rtsp_ok, media):
    with RtspServer({"/door": media("bikes")}) as server:
        events = []
        capture = Capture(cfg(server.url(), read_timeout_s=1.0, open_timeout_s=1.5), emit=events.append)
        marks = {}

        def on_frame(n, frame):
            if n == 20:
                server.freeze()  # SIGSTOP: TCP stays up, nothing is sent, opens are accepted by the kernel only
                marks["frozen"] = time.monotonic()
                threading.Timer(3.0, server.thaw).start()
            if "frozen" in marks and "gap" not in marks and frame.gap_s is not None:
                marks["gap"], marks["restored_after_freeze_s"] = frame.gap_s, time.monotonic() - marks["frozen"]
                capture.stop()

        take(capture, 10_000, on_frame, limit_s=25)
    lost = [e for e in events if e["type"] == "source_lost"]
    restored = [e for e in events if e["type"] == "source_restored"]
    assert len(lost) == 1 and "stalled" in lost[0]["error"] and "read_timeout_s" in lost[0]["error"], events
    # frames the server had sent before it froze still arrive for a while: the outage counts from the last of them
    assert restored and 1.0 <= restored[0]["outage_s"] <= 12 and marks["gap"] == restored[0]["outage_s"]
    assert marks["restored_after_freeze_s"] >= 3.0
    assert events.index(lost[0]) < events.index(restored[0])


def test_mjpeg_stall_with_the_socket_open_times_out_and_resumes(media):
    frames = [np.full((240, 320, 3), v, np.uint8) for v in (60, 120, 180)]
    with MjpegServer(frames, fps=30) as camera:
        events = []
        capture = Capture(cfg(camera.url(), read_timeout_s=1.0), emit=events.append)
        stalled_at = {}

        def on_frame(n, frame):
            if n == 15:
                camera.stalled.set()
                stalled_at["t"] = time.monotonic()
                threading.Timer(2.5, camera.stalled.clear).start()
            if frame.gap_s is not None:
                stalled_at["resumed"] = time.monotonic()
                capture.stop()

        take(capture, 10_000, on_frame, limit_s=15)
    lost = [e for e in events if e["type"] == "source_lost"]
    assert lost and "stalled" in lost[0]["error"], events
    assert "resumed" in stalled_at and 2.0 < stalled_at["resumed"] - stalled_at["t"] < 8


def test_mjpeg_resolution_change_mid_stream_and_after_a_reconnect(media):
    """Mid-stream, OpenCV rescales the new JPEGs to the size it opened with; a camera that restarts its stream at the
    new size (most do) arrives at that size after the reconnect."""
    small, big = [np.full((120, 160, 3), 90, np.uint8)], [np.full((480, 640, 3), 160, np.uint8)]
    camera = MjpegServer(small, fps=30).start()
    events = []
    capture = Capture(cfg(camera.url()), emit=events.append)
    seen, state = [], {}

    def on_frame(n, frame):
        nonlocal camera
        seen.append((frame.image.shape[:2], round(float(frame.image.mean()) / 10) * 10))  # JPEG-rounded
        if n == 10:
            camera.frames = big  # switched to VGA while streaming
        if n == 30:
            port = camera.port
            camera.kill()
            camera = MjpegServer(big, fps=30, port=port).start()  # the stream restarts at the new size
        if frame.image.shape[:2] == (480, 640):
            state["big"] = state.get("big", 0) + 1
            if state["big"] == 5:
                capture.stop()

    try:
        take(capture, 500, on_frame)
    finally:
        camera.kill()
    assert seen[0] == ((120, 160), 90) and ((120, 160), 160) in seen[10:30]  # new content, old size
    assert seen[-1] == ((480, 640), 160)
    outage = [e["type"] for e in events if e["type"] in ("source_lost", "source_restored")]
    assert outage == ["source_lost", "source_restored"]


def test_garbage_in_an_mjpeg_stream_never_stops_the_capture(media):
    rng = np.random.default_rng(0)
    import cv2

    photo = cv2.imread(str(media("obama")))
    frames = [cv2.resize(photo, (320, 240))]
    with MjpegServer(frames, fps=60) as camera:
        jpg = cv2.imencode(".jpg", frames[0])[1].tobytes()
        head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
        camera.garbage = (
            [
                rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(),  # noise between parts
                head % 4000 + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes() + b"\r\n",  # a part of noise
                head % len(jpg) + jpg[: len(jpg) // 3] + b"\r\n",  # a truncated JPEG
                b"--frame\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0garbage-without-length\r\n",
            ]
            * 3
        )
        events = []
        capture = Capture(cfg(camera.url()), emit=events.append)
        got = take(capture, 120)
        assert not camera.garbage  # all of it went out
    assert len(got) == 120
    mean = float(frames[0].mean())
    good = [f for f in got if f.image.shape == (240, 320, 3) and abs(float(f.image.mean()) - mean) < 8]
    assert len(good) >= 100, f"{len(good)} good frames"
    assert all(f.image.dtype == np.uint8 for f in got)


def test_rtsp_wrong_credentials_and_wrong_path_are_one_line_each_with_the_secret_masked(rtsp_ok, media):
    with RtspServer({"/door": media("carphone")}, user="door", password=SECRET) as server:
        for url, says in (
            (server.url(user="door", password="wrong-" + SECRET), "401 Unauthorized: the camera refused"),
            (server.url(), "401 Unauthorized: the camera needs a user name and password"),
            (server.url("/nope", user="door", password=SECRET), "404 Not Found"),
        ):
            events = []
            with pytest.raises(EdgekitError) as e:
                list(Capture(cfg(url), emit=events.append).frames())
            text = str(e.value)
            assert says in text and SECRET not in text and "\n" not in text, text
            assert [ev["type"] for ev in events] == ["source_failed"] and SECRET not in str(events)
        frames = take(Capture(cfg(server.url(user="door", password=SECRET))), 5)  # the right ones work
    assert len(frames) == 5


def test_mjpeg_wrong_credentials_and_path_and_port(media):
    frames = [np.full((120, 160, 3), 90, np.uint8)]
    with MjpegServer(frames, user="cam", password=SECRET) as camera:
        for url, says in (
            (camera.url(user="cam", password="nope"), "401"),
            (camera.url("/x.mjpg", "cam", SECRET), "404"),
        ):
            with pytest.raises(EdgekitError, match=says) as e:
                list(Capture(cfg(url)).frames())
            assert SECRET not in str(e.value)
        assert len(take(Capture(cfg(camera.url(user="cam", password=SECRET))), 3)) == 3
        port = camera.port
    events = []
    capture = Capture(cfg(f"http://cam:{SECRET}@127.0.0.1:{port}/stream.mjpg", open_retries=1), emit=events.append)
    assert list(capture.frames()) == []  # nothing listens any more: retried (a camera may come back), then failed
    assert [e["type"] for e in events] == ["source_error", "source_failed"]
    assert "connection refused" in events[-1]["error"] and SECRET not in str(events)


@pytest.mark.parametrize(
    "url,masked",
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/stream1", "rtsp://admin:***@10.0.0.5:554/stream1"),
        ("rtsp://admin@cam/live", "rtsp://admin@cam/live"),
        (
            "http://cam/videostream.cgi?user=admin&pwd=hunter2&res=1",
            "http://cam/videostream.cgi?user=admin&pwd=***&res=1",
        ),
        ("http://u:p%40ss@cam:81/stream?token=abc", "http://u:***@cam:81/stream?token=***"),
        ("/dev/video0", "/dev/video0"),
    ],
)
def test_urls_are_masked(url, masked):
    assert mask_url(url) == masked


def test_a_reader_slower_than_the_camera_gets_the_newest_frame_not_a_growing_backlog(media):
    """30 fps stamped MJPEG, a consumer at ~8 fps: the frames it gets are fresh (the grabber keeps the newest; the
    socket's receive buffer is bounded), and their age does not grow over the run."""
    import cv2

    from edge.bench.stamp import read_stamp

    frame = cv2.resize(cv2.imread(str(media("obama"))), (640, 480))
    with MjpegServer([frame], fps=30, stamp=True) as camera:
        capture = Capture(cfg(camera.url()))
        ages = []

        def slow(n, f):
            stamp = read_stamp(f.image)
            if stamp is not None and n > 5:
                ages.append(time.time() - stamp)
            time.sleep(0.12)

        take(capture, 30, slow)
    assert len(ages) >= 20 and capture.dropped >= 40, (len(ages), capture.dropped)
    first, last = np.median(ages[:8]), np.median(ages[-8:])
    assert last < 0.6 and last - first < 0.3, (first, last)


def test_usb_v4l2_devices_take_the_opencv_path_behind_the_same_interface():
    """No camera device exists here (no v4l2loopback): the V4L2 path is exercised up to OpenCV's VideoCapture."""
    from edge.capture.base import open_source
    from edge.capture.opencv import OpenCVSource
    from edge.capture.stream import StreamSource

    assert isinstance(open_source(cfg("rtsp://cam/stream")), StreamSource)
    assert isinstance(open_source(cfg("http://cam:81/stream")), StreamSource)
    for uri in ("/dev/video7", "3"):
        source = open_source(cfg(uri))
        assert isinstance(source, OpenCVSource) and source.is_live
    events = []
    assert list(Capture(cfg("/dev/video7", open_retries=1), emit=events.append).frames()) == []
    assert [e["type"] for e in events] == ["source_error", "source_failed"]
    assert "cannot open /dev/video7" in events[-1]["error"]


def test_a_wrong_password_found_on_a_reopen_before_any_frame_ends_the_capture_with_the_error():
    """The first open works but the stream fails before a frame, and the reopen (in the reader thread) is refused."""

    class Flaky:
        is_live, name, opens = True, "rtsp://cam:***@door/stream", 0

        def open(self):
            from edge.capture.stream import StreamConfigError

            self.opens += 1
            if self.opens > 1:
                raise StreamConfigError(
                    "rtsp://cam:***@door/stream: 401 Unauthorized", "put the right ones in source.uri"
                )

        def read(self):
            from edge.capture.base import SourceError

            raise SourceError("connection reset")

        def close(self):
            pass

    with pytest.raises(EdgekitError, match="401 Unauthorized"):
        list(Capture(cfg("rtsp://cam:x@door/stream"), source=Flaky()).frames())
