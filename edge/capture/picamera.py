"""Raspberry Pi camera through picamera2 (libcamera). Imported only when configured; untested off a Pi (picamera2
cannot be imported without libcamera's Python bindings, which exist only on Raspberry Pi OS)."""

from __future__ import annotations

import numpy as np

from edge.capture.base import SourceError
from edge.errors import EdgekitError


class Picamera2Source:
    is_live = True
    name = "picamera2"

    @classmethod
    def from_config(cls, cfg, emit=None):
        return cls(cfg.width, cfg.height)

    def __init__(self, width: int | None, height: int | None):
        self.size = (width or 640, height or 480)
        self.cam = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as e:
            raise EdgekitError(
                f"source.kind picamera2: picamera2 cannot be imported ({e})",
                "on a Raspberry Pi: apt install python3-picamera2 (or pip install 'edgekit[pi]'); elsewhere use "
                "source.kind: opencv",
            ) from None
        try:
            self.cam = Picamera2()
            self.cam.configure(self.cam.create_video_configuration(main={"size": self.size, "format": "BGR888"}))
            self.cam.start()
        except Exception as e:  # libcamera raises assorted errors when the camera is busy or absent
            raise SourceError(f"picamera2: {e}") from None

    def read(self) -> np.ndarray | None:
        try:
            return self.cam.capture_array()
        except Exception as e:
            raise SourceError(f"picamera2: {e}") from None

    def close(self) -> None:
        if self.cam is not None:
            try:
                self.cam.stop()
                self.cam.close()
            finally:
                self.cam = None
