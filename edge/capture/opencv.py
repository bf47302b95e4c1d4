"""OpenCV VideoCapture: a device index or /dev/videoN, or a video file (RTSP/HTTP URLs: edge.capture.stream).

MJPEG through FFmpeg (MJPG files; `source.jpeg_frames`, on by default) is read as packets (CAP_PROP_FORMAT -1:
0.006 ms per 640x480 frame here, no decode) and handed over as JpegFrame, decoded only as far as the loop needs it.
Other codecs decode every frame in FFmpeg (inter-frame codecs need each one for the next)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from edge.capture.base import SourceError
from edge.capture.jpeg import JpegFrame
from edge.capture.urls import is_stream_url, mask_url

# FFmpeg prints its own decode errors to stderr, once per bad packet (at the frame rate on a flaky stream); the
# capture reports what matters as events. Read when the first VideoCapture opens; set the variable to override.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL


class OpenCVSource:
    @classmethod
    def from_config(cls, cfg, emit=None):
        if is_stream_url(cfg.uri):  # network cameras: OpenCV too, with bounded waits (edge.capture.stream)
            from edge.capture.stream import StreamSource

            return StreamSource.from_config(cfg, emit)
        return cls(cfg.uri, cfg.width, cfg.height, cfg.jpeg_frames)

    def __init__(self, uri: str, width: int | None = None, height: int | None = None, jpeg_frames: bool = True):
        self.uri, self.width, self.height, self.jpeg_frames = uri, width, height, jpeg_frames
        self.is_live = uri.isdigit() or uri.startswith("/dev/video") or "://" in uri
        self.name = mask_url(uri)
        self.cap = None
        self.fps = None
        self.packets: tuple[int, int] | None = None  # (width, height): the last open reads JPEG packets
        self._first: np.ndarray | None = None  # the packet read to check that packets decode

    def open(self) -> None:
        self.packets = self._first = None
        if not self.is_live and not Path(self.uri).is_file():
            raise SourceError(f"video file {self.uri} not found")
        target = int(self.uri) if self.uri.isdigit() else self.uri
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {self.name}")
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self.fps = cap.get(cv2.CAP_PROP_FPS) or None
        self.cap = cap
        if self.jpeg_frames and not self.is_live:
            self._as_packets()

    def _as_packets(self) -> None:
        """MJPEG via FFmpeg: packets from now on, if the first one decodes (else frames as before, reopened)."""
        cap = self.cap
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1").upper()
        if fourcc != "MJPG" or cap.getBackendName() != "FFMPEG" or not cap.set(cv2.CAP_PROP_FORMAT, -1):
            return
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        ok, packet = cap.read()
        if ok and packet is not None and cv2.imdecode(packet, cv2.IMREAD_REDUCED_GRAYSCALE_8) is not None:
            self.packets, self._first = size, packet.reshape(-1)
            return
        cap.release()
        self.cap = None
        self.jpeg_frames = False
        try:
            self.open()  # decoded by FFmpeg, as other codecs are
        finally:
            self.jpeg_frames = True

    def read(self) -> np.ndarray | JpegFrame | None:
        if self.cap is None:
            raise SourceError(f"{self.name} is not open")
        if self.packets is not None:
            return self._read_packet()
        ok, frame = self.cap.read()
        if not ok:
            if self.is_live:  # a camera or stream that stops delivering has failed; a file has ended
                raise SourceError(f"{self.name} stopped delivering frames")
            return None
        return frame

    def _read_packet(self) -> JpegFrame | None:
        packet, self._first = self._first, None
        if packet is None:
            ok, packet = self.cap.read()
            if not ok or packet is None:
                return None  # files only: the end
        return JpegFrame(packet.reshape(-1), self.packets)

    def grab(self) -> bool:
        """Take the next frame without converting it to BGR (Capture.wanted said no): as packets, nothing is decoded;
        otherwise FFmpeg decodes in grab() too and what is saved is the colour conversion and copy (0.43 vs 0.56 ms
        CPU for 640x480 MJPG here)."""
        if self.packets is not None and self._first is not None:
            self._first = None
            return True
        return self.cap is not None and self.cap.grab()

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None
