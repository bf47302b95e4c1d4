"""Reading images (from disk or bytes) and video files with errors that name the file, and listing image folders.

Every picture is bounded before it is decoded: its dimensions come from the header (imagesize) and a picture over
the pixel cap is refused without allocating it (a 30000x30000 PNG is 2.7 MB on disk and 2.7 GB decoded). A JPEG whose
entropy data is damaged decodes partly (libjpeg fills the rest); it is returned flagged `degraded` with libjpeg's
reason (simplejpeg's strict mode surfaces the warning OpenCV only prints)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import imagesize
import numpy as np

from edge.errors import EdgekitError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".bmp", ".webp", ".tif", ".tiff"}
DEFAULT_MAX_PIXELS = 50_000_000  # 8K is 33 Mpx; a shelf photo 5-10 Mpx
_limits = {"max_pixels": DEFAULT_MAX_PIXELS}


def set_max_pixels(max_pixels: int) -> None:
    """The site's cap (limits.max_image_pixels), for every picture this process reads."""
    _limits["max_pixels"] = int(max_pixels)


@dataclass
class Picture:
    image: np.ndarray  # BGR uint8
    degraded: str | None = None  # why only part of it decoded, or None


def list_images(folder: str | Path) -> list[Path]:
    """All image files under folder, recursively, in a stable order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EdgekitError(
            f"image folder {folder}: not found or not a folder", "pass a folder of .jpg/.png/.pgm/.bmp images"
        )
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def expand_images(inputs) -> list[Path]:
    """Files as given, and the images inside folders (recursively, in a stable order)."""
    return [p for i in inputs for p in (list_images(i) if Path(i).is_dir() else [Path(i)])]


def read_each(paths, on_error: Callable[[Path, EdgekitError], None]) -> Iterator[tuple[Path, Picture]]:
    """(path, Picture) for each readable photo; an unreadable one goes to `on_error` and the rest still come: one bad
    file never hides the good ones after it."""
    for path in paths:
        try:
            picture = read_picture(path)
        except EdgekitError as e:
            on_error(path, e)
            continue
        yield path, picture


def read_picture(path: str | Path) -> Picture:
    """A file as a Picture. A missing, empty, oversized, unreadable or truncated file raises EdgekitError naming it."""
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"image {path}: not found", "check the path")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise EdgekitError(f"image {path}: cannot be read ({e.strerror})", "check the file's permissions") from None
    return decode_picture(data, f"image {path}")


def read_image(path: str | Path) -> np.ndarray:
    """BGR uint8 image of a file (a degraded JPEG included: see read_picture for the flag)."""
    return read_picture(path).image


def decode_picture(data: bytes, what: str) -> Picture:
    """Encoded bytes (JPEG, PNG, ...) as a Picture; `what` names them in errors ("image x.jpg", "enroll: 'image'")."""
    if not data:
        raise EdgekitError(f"{what}: empty file", "replace the file")
    check_dimensions(data, what)
    buf = np.frombuffer(data, np.uint8)
    degraded = None
    # judged by content, not name: a WebP saved as .jpg (deepface img47.jpg) is a whole picture
    if data[:2] == b"\xff\xd8":
        if not _jpeg_complete(data):
            raise EdgekitError(f"{what}: truncated JPEG (no end-of-image marker)", "re-copy or re-capture the file")
        degraded = _jpeg_damage(data)
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None or not image.size:
        raise EdgekitError(f"{what}: cannot be decoded (corrupt or not an image)", "replace the file")
    return Picture(image, degraded)


def check_dimensions(data: bytes, what: str) -> None:
    """Refuse a picture over the pixel cap from its header, before anything is allocated."""
    try:
        w, h = imagesize.get(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - a header imagesize cannot parse: OpenCV's own checks still apply
        return
    cap = _limits["max_pixels"]
    if w > 0 and h > 0 and w * h > cap:
        raise EdgekitError(
            f"{what}: {w}x{h} pixels, over the limit of {cap} pixels",
            "resize the picture, or raise limits.max_image_pixels in the site config",
        )


def video_frames(path: str | Path, every: int = 1, limit: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, BGR frame) for every `every`-th frame of a video file, at most `limit` of them. A missing file or
    one OpenCV cannot open raises EdgekitError naming it."""
    if not Path(path).is_file():
        raise EdgekitError(f"video {path}: not found", "check the path")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise EdgekitError(
            f"video {path}: cannot be opened (corrupt or an unknown format)", "convert it to MP4 (H.264)"
        )
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


def _jpeg_complete(data: bytes) -> bool:
    # OpenCV decodes a truncated JPEG into a half-grey picture with only a warning; the EOI marker tells.
    tail = data[-64:].rstrip(b"\x00\r\n ")
    return len(data) > 4 and tail.endswith(b"\xff\xd9")


def _jpeg_damage(data: bytes) -> str | None:
    """libjpeg's warning for damaged entropy data (the picture then decodes only partly), or None. The strict
    decode runs at 1/8 scale in grey: the whole stream is still entropy-decoded, at about a tenth of the cost."""
    try:
        import simplejpeg
    except ImportError:  # a board without its wheel: pictures are read, damage goes unflagged
        return None
    try:
        simplejpeg.decode_jpeg(data, colorspace="GRAY", strict=True, min_height=1, min_width=1)
        return None
    except ValueError as strict:
        try:  # a failure that is not a warning (CMYK, an unusual layout) is OpenCV's to judge
            simplejpeg.decode_jpeg(data, colorspace="GRAY", strict=False, min_height=1, min_width=1)
        except ValueError:
            return None
        return str(strict)
