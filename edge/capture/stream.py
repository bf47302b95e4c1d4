"""Network cameras: RTSP (H.264/H.265) and HTTP MJPEG, read through OpenCV's FFmpeg backend with bounded waits.

FFmpeg does the protocols. What is set here: the RTSP transport (OPENCV_FFMPEG_CAPTURE_OPTIONS, read by OpenCV at
each open), and open/read timeouts (CAP_PROP_OPEN_TIMEOUT_MSEC / CAP_PROP_READ_TIMEOUT_MSEC: FFmpeg's interrupt
callback), so a camera that stalls with its socket open ends a read() after `read_timeout_s` instead of hanging the
reader for FFmpeg's 30 s default. A failed open asks the camera why (edge.capture.probe). The URL appears only
masked (edge.capture.urls) in names, errors and events."""

from __future__ import annotations

import os
import threading
import time

import cv2
import numpy as np

from edge.capture.base import SourceError
from edge.capture.probe import diagnose
from edge.capture.urls import mask_text, mask_url, scheme

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL: the capture reports what matters as events

_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_open_lock = threading.Lock()  # the options travel in a process-wide variable: one open at a time


class StreamConfigError(SourceError):
    """The URL or its credentials are wrong (401/403/404): retrying the same URL will not help."""

    permanent = True

    def __init__(self, what: str, fix: str):
        super().__init__(f"{what} ({fix})")
        self.what, self.fix = what, fix


# HTTP streams: the socket's receive buffer. Left to the kernel it grows while the reader falls behind (to tcp_rmem's
# maximum, 32 MB on the test machine: minutes of MJPEG), and every frame then waits behind that backlog. 256 KiB holds
# a few 640x480 JPEGs (30-60 KB each); beyond that TCP slows the camera down, which drops frames on its side.
HTTP_RECV_BUFFER = 256 * 1024


def ffmpeg_options(uri: str, transport: str, extra: dict[str, str]) -> str:
    """OPENCV_FFMPEG_CAPTURE_OPTIONS for this URL: `key;value|key;value`."""
    options = {}
    if scheme(uri) in ("rtsp", "rtsps"):
        options["rtsp_transport"] = transport
    if scheme(uri) in ("http", "https"):
        options["recv_buffer_size"] = str(HTTP_RECV_BUFFER)
    options.update(extra)
    return "|".join(f"{k};{v}" for k, v in options.items())


class StreamSource:
    is_live = True

    @classmethod
    def from_config(cls, cfg, emit=None):
        return cls(cfg.uri, cfg.transport, cfg.open_timeout_s, cfg.read_timeout_s, cfg.ffmpeg_options)

    def __init__(
        self,
        uri: str,
        transport: str = "tcp",
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        options: dict[str, str] | None = None,
    ):
        self.uri, self.transport = uri, transport
        self.open_timeout_s, self.read_timeout_s = open_timeout_s, read_timeout_s
        self.options = dict(options or {})
        self.name = mask_url(uri)
        self.cap = None
        self.fps = None

    def open(self) -> None:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.read_timeout_s * 1000),
        ]
        with _open_lock:
            before = os.environ.get(_OPTIONS_ENV)
            os.environ[_OPTIONS_ENV] = ffmpeg_options(self.uri, self.transport, self.options)
            try:
                cap = cv2.VideoCapture(self.uri, cv2.CAP_FFMPEG, params)
            finally:
                if before is None:
                    os.environ.pop(_OPTIONS_ENV, None)
                else:
                    os.environ[_OPTIONS_ENV] = before
        if not cap.isOpened():
            cap.release()
            why = diagnose(self.uri, min(self.open_timeout_s, 5.0))
            if why is None:
                raise SourceError(
                    f"cannot open {self.name} (no stream FFmpeg can decode within {self.open_timeout_s:g} s)"
                )
            what = mask_text(f"{self.name}: {why.reason}", self.uri)
            if why.permanent:
                raise StreamConfigError(what, why.fix)
            raise SourceError(f"{what} ({why.fix})")
        self.fps = cap.get(cv2.CAP_PROP_FPS) or None
        self.cap = cap

    def read(self) -> np.ndarray | None:
        if self.cap is None:
            raise SourceError(f"{self.name} is not open")
        t = time.monotonic()
        ok, frame = self.cap.read()
        if not ok:
            waited = time.monotonic() - t
            if waited >= self.read_timeout_s * 0.9:
                raise SourceError(f"{self.name}: no frame for {waited:.1f} s (stalled; source.read_timeout_s)")
            raise SourceError(f"{self.name}: stream ended or connection lost")
        return frame

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None
