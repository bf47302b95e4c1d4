"""A network camera (MJPEG over HTTP, served by the test on loopback) that disappears mid-run and comes back."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from edge.capture import Capture
from edge.capture.base import CaptureConfig
from tests.fixtures.events import keep


class Camera:
    """A tiny MJPEG camera: each frame's pixel value is its sequence number (mod 256)."""

    def __init__(self, port: int = 0):
        self.n = 0
        self.alive = True
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                while camera.alive:
                    camera.n += 1
                    jpg = cv2.imencode(".jpg", np.full((120, 160, 3), camera.n % 256, np.uint8))[1].tobytes()
                    try:
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                            + jpg
                            + b"\r\n"
                        )
                    except OSError:
                        return
                    time.sleep(0.01)

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def unplug(self):
        self.alive = False
        self.server.shutdown()
        self.server.server_close()


def test_camera_that_vanishes_is_reopened_with_backoff_and_frames_resume():
    cam = Camera()
    url = f"http://127.0.0.1:{cam.port}/stream.mjpg"
    events = []
    cap = Capture(CaptureConfig(uri=url, backoff_initial_s=0.1, backoff_max_s=0.4), emit=keep(events))
    seen, phase = [], {"replugged": None}

    def replug():
        phase["replugged"] = Camera(cam.port)

    for frame in cap.frames():
        seen.append(frame.frame_id)
        if len(seen) == 20:
            cam.unplug()
            threading.Timer(1.0, replug).start()
        if phase["replugged"] is not None and len(seen) >= 40:
            cap.stop()
    phase["replugged"].unplug()
    errors = [e for e in events if e["type"] == "source_error"]
    assert len(seen) >= 40 and errors, events
    assert cap.reopened >= 1
    assert seen == sorted(seen)  # frame ids keep counting across the outage


class StalledCamera:
    """A Source whose driver hangs in read() after two frames until the test lets go, as a hung RTSP/USB camera does.
    (FFmpeg over a silent socket would do the same, but its probing and read-ahead make *when* it blocks vary.)"""

    is_live, name = True, "stalled"

    def __init__(self):
        self.release, self.reading, self.n = threading.Event(), threading.Event(), 0
        self.opened = self.closed_while_reading = False

    def open(self):
        self.opened = True

    def read(self):
        self.n += 1
        if self.n > 2:
            self.reading.set()
            self.release.wait(30)
            if not self.opened:
                self.closed_while_reading = True
        return np.full((120, 160, 3), self.n, np.uint8)

    def close(self):
        if self.reading.is_set() and not self.release.is_set():
            self.closed_while_reading = True
        self.opened = False


def test_a_stalled_camera_does_not_hold_up_stop_and_is_closed_by_its_reader_later():
    cam = StalledCamera()
    cap = Capture(CaptureConfig(uri="stalled"), source=cam)
    frames = cap.frames()
    assert next(frames).image[0, 0, 0] in (1, 2)  # the newest of what arrived
    assert cam.reading.wait(5)  # the reader is now stuck in read()
    t = time.monotonic()
    frames.close()  # the loop leaves (SIGTERM) while the reader is stuck
    assert time.monotonic() - t < 3 and cam.opened  # not released under the stuck read
    cam.release.set()  # the driver gives up
    end = time.monotonic() + 5
    while cam.opened and time.monotonic() < end:
        time.sleep(0.02)
    assert not cam.opened and not cam.closed_while_reading
