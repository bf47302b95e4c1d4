"""A wall-clock stamp in the pixels of a test stream, for capture-to-event latency over a real network path.

The test servers (tests/stream_servers.py, tests/rtsp_server.py) write the time a frame leaves for the camera's
encoder, in milliseconds modulo 2**40, as 40 black/white 16x16 blocks along the top edge of a frame at least 640 px
wide; `read_stamp` recovers it from the decoded frame. Blocks aligned to H.264's 16x16 macroblocks stay flat at any
quantiser (smaller ones were smeared by x264's rate control in its first seconds). Real cameras carry no stamp:
`read_stamp` says None."""

from __future__ import annotations

import time

import numpy as np

BITS, BLOCK = 40, 16  # tests/rtsp_server.py repeats these two numbers (it runs without edgekit)
MODULO_MS = 1 << BITS


def write_stamp(image: np.ndarray, millis: int) -> None:
    """Stamp `millis` (epoch milliseconds) into a BGR or grey frame, in place."""
    millis %= MODULO_MS
    for bit in range(BITS):
        image[:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = 255 if (millis >> (BITS - 1 - bit)) & 1 else 0


def read_stamp(image: np.ndarray, now: float | None = None) -> float | None:
    """Epoch seconds stamped in the frame (the copy of the stamp closest to `now`), or None without a clean stamp."""
    if image.shape[1] < BITS * BLOCK or image.shape[0] < BLOCK:
        return None
    strip = image[3 : BLOCK - 3, : BITS * BLOCK]
    grey = strip.mean(axis=2) if strip.ndim == 3 else strip
    cells = grey.reshape(grey.shape[0], BITS, BLOCK)[:, :, 3 : BLOCK - 3].mean(axis=(0, 2))
    if np.any((cells > 64) & (cells < 192)):  # not clean black/white blocks: no stamp here
        return None
    millis = 0
    for bit in cells > 128:
        millis = (millis << 1) | int(bit)
    now_ms = int((time.time() if now is None else now) * 1000)
    base = now_ms - now_ms % MODULO_MS
    best = min((base + millis + k * MODULO_MS for k in (-1, 0, 1)), key=lambda m: abs(m - now_ms))
    return best / 1000 if abs(best - now_ms) < 3_600_000 else None
