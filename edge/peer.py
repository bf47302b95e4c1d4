"""The `face_recognition` library (dlib HOG detector + ResNet embedding) as a peer to measure against.
Optional (`pip install 'edgekit[peer]'` and `pip install --no-deps face_recognition`); imported only when asked for."""

from __future__ import annotations

import numpy as np

from edge.errors import EdgekitError


def load():
    try:
        import face_recognition
    except ImportError as e:
        raise EdgekitError(
            f"the face_recognition peer is not installed ({e})",
            "pip install dlib-bin face-recognition-models && pip install --no-deps face_recognition",
        ) from None
    return face_recognition


def encode_largest(fr, image_bgr: np.ndarray) -> np.ndarray | None:
    rgb = np.ascontiguousarray(image_bgr[..., ::-1])
    boxes = fr.face_locations(rgb)  # HOG, upsample 1: the library's default
    if not boxes:
        return None
    top, right, bottom, left = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    return fr.face_encodings(rgb, [(top, right, bottom, left)])[0]


def process_frame(fr, image_bgr: np.ndarray) -> int:
    """What a face_recognition doorbell does per frame: detect every face, encode every face."""
    rgb = np.ascontiguousarray(image_bgr[..., ::-1])
    boxes = fr.face_locations(rgb)
    return len(fr.face_encodings(rgb, boxes))
