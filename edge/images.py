"""Reading images and video files from disk with errors that name the file, and listing image folders."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from edge.errors import EdgekitError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".bmp", ".webp", ".tif", ".tiff"}


def list_images(folder: str | Path) -> list[Path]:
    """All image files under folder, recursively, in a stable order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EdgekitError(f"image folder {folder}: not found or not a folder", "pass a folder of .jpg/.png/.pgm/.bmp images")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_image(path: str | Path) -> np.ndarray:
    """BGR uint8 image. A missing, unreadable or truncated file raises EdgekitError naming it."""
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"image {path}: not found", "check the path")
    data = np.fromfile(path, dtype=np.uint8)
    # judged by content, not name: a WebP saved as .jpg (deepface img47.jpg) is a whole picture
    if data[:2].tobytes() == b"\xff\xd8" and not _jpeg_complete(data):
        raise EdgekitError(f"image {path}: truncated JPEG (no end-of-image marker)", "re-copy or re-capture the file")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise EdgekitError(f"image {path}: cannot be decoded (corrupt or not an image)", "replace the file")
    return image


def video_frames(path: str | Path, every: int = 1, limit: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, BGR frame) for every `every`-th frame of a video file, at most `limit` of them. A missing file or
    one OpenCV cannot open raises EdgekitError naming it."""
    if not Path(path).is_file():
        raise EdgekitError(f"video {path}: not found", "check the path")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise EdgekitError(f"video {path}: cannot be opened (corrupt or an unknown format)",
                           "convert it to MP4 (H.264)")
    i = given = 0
    try:
        while limit is None or given < limit:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                given += 1
                yield i, frame
            i += 1
    finally:
        cap.release()


def _jpeg_complete(data: np.ndarray) -> bool:
    # OpenCV decodes a truncated JPEG into a half-grey picture with only a warning; the EOI marker tells.
    tail = data[-64:].tobytes().rstrip(b"\x00\r\n ")
    return len(data) > 4 and data[:2].tobytes() == b"\xff\xd8" and tail.endswith(b"\xff\xd9")
