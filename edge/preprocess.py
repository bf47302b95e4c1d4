"""Frame -> input tensor, exactly as the model card says. Used identically by calibration, the gate and the device."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.card import Preprocess


@dataclass(frozen=True)
class Transform:
    """Maps model-input pixel coordinates back to frame coordinates: frame = (xy - pad) / scale. `frame_size` (w, h)
    is the frame's, for clipping boxes to it."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    frame_size: tuple[int, int] | None = None

    def to_frame(self, xy: np.ndarray) -> np.ndarray:
        """xy: (..., 2k) array of interleaved x, y in input pixels; returns the same shape in frame pixels."""
        out = np.asarray(xy, dtype=np.float32).copy()
        out[..., 0::2] = (out[..., 0::2] - self.pad_x) / self.scale_x
        out[..., 1::2] = (out[..., 1::2] - self.pad_y) / self.scale_y
        return out


def resize(image: np.ndarray, spec: Preprocess) -> tuple[np.ndarray, Transform]:
    """The image at the spec's input size (stretched or letterboxed) and the transform back to the image."""
    h, w = image.shape[:2]
    if (w, h) == (spec.width, spec.height):  # already the input's size (a face chip): cv2.resize would only copy
        return image, Transform(1.0, 1.0, 0.0, 0.0, (w, h))
    if spec.resize == "stretch":
        sx, sy = spec.width / w, spec.height / h
        return cv2.resize(
            image, (spec.width, spec.height), interpolation=cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR
        ), Transform(sx, sy, 0.0, 0.0, (w, h))
    s = min(spec.width / w, spec.height / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    area = s < 1 and spec.interpolation == "auto"
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if area else cv2.INTER_LINEAR)
    px, py = (spec.width - nw) // 2, (spec.height - nh) // 2
    canvas = np.full((spec.height, spec.width) + image.shape[2:], spec.pad, dtype=image.dtype)
    canvas[py : py + nh, px : px + nw] = resized
    return canvas, Transform(s, s, float(px), float(py), (w, h))


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The image scaled to fit width x height, centred on black (aspect ratio kept)."""
    return resize(image, Preprocess(width=width, height=height, resize="letterbox"))[0]


def to_color(image: np.ndarray, color: str) -> np.ndarray:
    """BGR/grey uint8 frame -> the colour order the model wants (HxWx1 for GRAY, HxWx3 otherwise)."""
    if image.ndim == 2 or image.shape[2] == 1:
        grey = image.reshape(image.shape[:2])
        return grey[..., None] if color == "GRAY" else np.repeat(grey[..., None], 3, axis=2)
    if color == "GRAY":
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[..., None]
    return image[..., ::-1] if color == "RGB" else image


def preprocess(image_bgr: np.ndarray, spec: Preprocess) -> tuple[np.ndarray, Transform]:
    """Return a float32 batch of one (layout per spec) and the transform back to frame coordinates."""
    if image_bgr.dtype != np.uint8 or image_bgr.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 HxW or HxWxC image, got {image_bgr.dtype} with shape {image_bgr.shape}")
    resized, transform = resize(image_bgr, spec)
    x = to_color(resized, spec.color).astype(np.float32)
    if spec.prewhiten:
        std = max(float(x.std()), 1.0 / np.sqrt(x.size))
        x = (x - x.mean()) / std
    else:
        channels = x.shape[2]
        x = (x - np.asarray(spec.mean[:channels], np.float32)) / np.asarray(spec.std[:channels], np.float32)
    if spec.layout == "NCHW":
        x = x.transpose(2, 0, 1)
    return x[None], transform


def quantizing_table(spec: Preprocess, scale: float, zero: float, dtype) -> np.ndarray | None:
    """(1, 256, C) table of an INT8 model's input: for each uint8 pixel value of each channel (in the model's colour
    order), what `preprocess` then the input tensor's quantisation give, by the same float32 steps, so the device can
    skip the float image (0.8 ms of a 150x150 face's 5 here). Stored as uint8 bit patterns for cv2.LUT. None when the
    normalisation is not per pixel: prewhitening uses the image's own mean and std."""
    if spec.prewhiten:
        return None
    c = 1 if spec.color == "GRAY" else 3
    x = np.repeat(np.arange(256, dtype=np.float32)[:, None], c, axis=1)
    x = (x - np.asarray(spec.mean[:c], np.float32)) / np.asarray(spec.std[:c], np.float32)
    info = np.iinfo(dtype)
    q = np.clip(np.rint(x / np.float32(scale) + np.float32(zero)), info.min, info.max).astype(dtype)
    if spec.color == "RGB":  # indexed by the BGR frame's channels: the look-up, then one reversed copy
        q = q[:, ::-1]
    return np.ascontiguousarray(q.view(np.uint8)[None])


def preprocess_quantized(image_bgr: np.ndarray, spec: Preprocess, table: np.ndarray, dtype) -> tuple:
    """`preprocess` then quantisation in one table look-up (`quantizing_table`): the model's input tensor of `dtype`
    and the transform back to frame coordinates."""
    if image_bgr.dtype != np.uint8 or image_bgr.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 HxW or HxWxC image, got {image_bgr.dtype} with shape {image_bgr.shape}")
    resized, transform = resize(image_bgr, spec)
    if spec.color == "GRAY":
        q = cv2.LUT(np.ascontiguousarray(to_color(resized, "GRAY")[..., 0]), table[..., 0])[..., None]
    else:
        q = cv2.LUT(np.ascontiguousarray(to_color(resized, "BGR")), table)  # a grey frame: three equal channels
        q = q[..., ::-1] if spec.color == "RGB" else q
    q = q.view(dtype)
    if spec.layout == "NCHW":
        q = q.transpose(2, 0, 1)
    return np.ascontiguousarray(q)[None], transform
