"""Real network cameras on loopback for the tests and for `edgekit bench pipeline --source URL`:

- `RtspServer`: GStreamer's RTSP server (tests/rtsp_server.py, run by the system interpreter), killed, restarted on
  the same port, or frozen with SIGSTOP (socket open, nothing sent: a hung camera).
- `MjpegServer`: multipart/x-mixed-replace over HTTP, as ESP32-CAM boards and many IP cameras serve it, with the
  faults a flaky camera shows: a stall with the socket open, garbage between and inside parts, a new resolution.

`python -m tests.stream_servers mjpeg|rtsp --footage FILE [--stamp]` serves one until Ctrl-C (for the benchmark)."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

from edge.bench.stamp import write_stamp
from edge.ports import free_port

SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SCRIPT = Path(__file__).with_name("rtsp_server.py")


def rtsp_missing() -> str | None:
    """Why GStreamer's RTSP server cannot run here, or None."""
    if not Path(SYSTEM_PYTHON).is_file():
        return f"{SYSTEM_PYTHON} not found"
    probe = (
        "import gi; gi.require_version('GstRtspServer', '1.0'); gi.require_version('Gst', '1.0'); "
        "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
        "assert all(Gst.ElementFactory.find(e) for e in ('qtdemux', 'h264parse', 'rtph264pay', 'x264enc'))"
    )
    r = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True)
    if r.returncode:
        return "GStreamer's RTSP server is not installed (run scripts/sysdeps.sh): " + r.stderr.strip()[-200:]
    return None


def transcode_to_h264(avi: Path, mp4: Path) -> Path:
    """An MJPG .avi (the demo's footage) as an H.264 .mp4, through GStreamer's x264enc (OpenCV's wheels cannot
    write H.264)."""
    if not mp4.is_file():
        part = mp4.with_name(mp4.name + ".part")  # an interrupted encode leaves no half file under the real name
        subprocess.run([SYSTEM_PYTHON, str(RTSP_SCRIPT), "--transcode", str(avi), str(part)], check=True, timeout=600)
        part.rename(mp4)
    return mp4


def joined_clips(clips: list[Path], ts: Path) -> Path:
    """H.264 clips back to back in one MPEG-TS file (tests/rtsp_server.py --join)."""
    if not ts.is_file():
        subprocess.run([SYSTEM_PYTHON, str(RTSP_SCRIPT), "--join", str(ts), *map(str, clips)], check=True, timeout=120)
    return ts


def h264_clip(frames: list[np.ndarray], mp4: Path, repeats: int = 1, fps: float = 30.0) -> Path:
    """`frames` played `repeats` times at `fps`, as an H.264 mp4 (written once; reused while it exists)."""
    if not mp4.is_file():
        from edge.demo import write_video

        avi = write_video(mp4.with_name(mp4.stem + ".source.avi"), frames * repeats, fps)
        transcode_to_h264(avi, mp4)
        avi.unlink()
    return mp4


class RtspServer:
    def __init__(
        self, media: dict[str, Path], user: str | None = None, password: str | None = None, stamp: bool = False
    ):
        self.media, self.user, self.password, self.stamp = media, user, password, stamp
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> RtspServer:
        args = [SYSTEM_PYTHON, str(RTSP_SCRIPT), "--port", str(self.port)]
        for mount, clip in self.media.items():
            args += ["--media", f"{mount}={clip}"]
        if self.user:
            args += ["--user", self.user, "--password", self.password]
        if self.stamp:
            args.append("--stamp")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.proc.kill()
            raise RuntimeError(f"rtsp_server did not start (exit {self.proc.wait()})")
        return self

    def url(self, mount: str = "/door", user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}{mount}"

    def kill(self) -> None:
        """The camera loses power: no goodbye on the wire."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def freeze(self) -> None:
        """A hung camera: its sockets stay open, nothing more is sent."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    stop = kill

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()


class MjpegServer:
    """Serves `frames` (BGR arrays, looped) at `fps` to each client from its first frame, like a camera that starts a
    stream per connection. Attributes the tests flip while it runs: `frames` (a new list: new resolution), `stalled`
    (stop sending, keep the socket), `garbage` (what to send instead of the next part)."""

    boundary = "frame"

    def __init__(
        self,
        frames: list[np.ndarray],
        fps: float = 30.0,
        stamp: bool = False,
        user: str | None = None,
        password: str | None = None,
        port: int = 0,
    ):
        self.frames, self.fps, self.stamp = frames, fps, stamp
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() if user else None
        self.stalled = threading.Event()
        self.garbage: list[bytes] = []  # sent one by one in place of parts
        self.sent = 0
        self.requests: list[str] = []
        self._jpegs: dict[int, bytes] = {}
        self._conns: set[socket.socket] = set()
        self.port = port
        self.server: ThreadingHTTPServer | None = None

    def part(self, i: int) -> bytes:
        frame = self.frames[i % len(self.frames)]
        if self.stamp:
            frame = frame.copy()
            write_stamp(frame, int(time.time() * 1000))
            jpg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
        else:
            key = id(frame)
            if key not in self._jpegs:
                self._jpegs[key] = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
            jpg = self._jpegs[key]
        return (
            f"--{self.boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n".encode()
            + jpg
            + b"\r\n"
        )

    def _handler(self):
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                camera.requests.append(self.path)
                if camera.auth and self.headers.get("Authorization") != camera.auth:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path.split("?")[0] != "/stream.mjpg":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={camera.boundary}")
                self.end_headers()
                # a camera's own send queue is small (an ESP32's TCP window is a few KB): the kernel's autotuned
                # megabytes would hide a client that falls behind
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
                camera._conns.add(self.connection)
                try:
                    camera.stream(self.wfile)
                except OSError:
                    pass
                finally:
                    camera._conns.discard(self.connection)

            def log_message(self, *args):
                pass

        return Handler

    def stream(self, out) -> None:
        i, next_t = 0, time.monotonic()
        while self.server is not None:
            if self.stalled.is_set():
                time.sleep(0.02)
                next_t = time.monotonic()
                continue
            out.write(self.garbage.pop(0) if self.garbage else self.part(i))
            out.flush()
            i += 1
            self.sent += 1
            next_t += 1.0 / self.fps
            time.sleep(max(0.0, next_t - time.monotonic()))

    def start(self) -> MjpegServer:
        ThreadingHTTPServer.allow_reuse_address = True
        ThreadingHTTPServer.daemon_threads = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def url(self, path: str = "/stream.mjpg", user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"http://{auth}127.0.0.1:{self.port}{path}"

    def kill(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        for conn in list(self._conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    stop = kill

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()


def read_frames(path: Path) -> list[np.ndarray]:
    from edge.demo import read_clip

    return read_clip(path)


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("kind", choices=["mjpeg", "rtsp"])
    p.add_argument("--footage", type=Path, required=True, help="a video file (rtsp: H.264 mp4, or an MJPG avi)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--stamp", action="store_true", help="stamp the send time into each frame (latency)")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    if args.kind == "mjpeg":
        server = MjpegServer(read_frames(args.footage), args.fps, args.stamp, port=args.port).start()
        print(server.url(), flush=True)
    else:
        clip = h264_clip(read_frames(args.footage), Path("/tmp") / f"{args.footage.stem}-x8.mp4", 8, args.fps)
        server = RtspServer({"/door": clip}, stamp=args.stamp)
        if args.port:
            server.port = args.port
        server.start()
        print(server.url(), flush=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))  # kill PID: stop the RTSP child too
    try:
        signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
