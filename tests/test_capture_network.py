"""A network camera (MJPEG over HTTP, served by the test on loopback) that disappears mid-run and comes back."""
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from edge.capture import Capture
from edge.capture.base import CaptureConfig


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
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg) + jpg + b"\r\n")
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
    cap = Capture(CaptureConfig(uri=url, backoff_initial_s=0.1, backoff_max_s=0.4), on_event=events.append)
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
