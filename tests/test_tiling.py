"""Tiled detection: tiles cover the frame with the asked overlap; boxes come back in frame pixels; an object cut by
a tile border is reported once, whole. The detector here is a real one for coloured squares (OpenCV contours), and
NanoDet from the zoo on real shelf photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.vision.detections import Detections
from edge.vision.tiling import TilingConfig, detect_tiled, merge, tile_grid


def square_detector(frame: np.ndarray) -> Detections:
    """Bright blobs -> boxes (class 0); a blob cut by the crop edge gives a partial box, like a real detector."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    contours, _ = cv2.findContours((grey > 127).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    rects = np.array([cv2.boundingRect(c) for c in contours], np.float32).reshape(-1, 4)
    boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], 1)
    scores = np.clip(rects[:, 2] * rects[:, 3] / 2000.0, 0.05, 1.0).astype(
        np.float32
    )  # bigger visible part, higher score
    return Detections(boxes=boxes, scores=scores, class_ids=np.zeros(len(boxes), np.int32))


@pytest.mark.parametrize(
    "h, w, size, overlap", [(2448, 3264, 800, 0.2), (500, 500, 800, 0.2), (1000, 801, 400, 0.5), (64, 3000, 256, 0.0)]
)
def test_tiles_cover_the_frame_with_at_least_the_overlap(h, w, size, overlap):
    tiles = tile_grid(h, w, size, overlap)
    covered = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in tiles:
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h and x2 - x1 == min(size, w) and y2 - y1 == min(size, h)
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    xs = np.unique(tiles[:, 0])
    if len(xs) > 1:
        assert (np.diff(xs) <= size * (1 - overlap) + 1).all()


def test_objects_across_tile_borders_come_back_once_and_whole():
    frame = np.zeros((1000, 1400, 3), np.uint8)
    squares = [(100, 100, 160, 160), (370, 300, 430, 360), (760, 560, 820, 620), (1300, 900, 1360, 960)]
    for x1, y1, x2, y2 in squares:
        frame[y1:y2, x1:x2] = 255
    cfg = TilingConfig(size=400, overlap=0.25, full_frame=False)
    tiles = tile_grid(1000, 1400, 400, 0.25)
    cut = [s for s in squares if any(t[0] < s[0] < t[2] < s[2] or t[1] < s[1] < t[3] < s[3] for t in tiles)]
    assert cut, "the layout must put some squares across tile borders"
    d = detect_tiled(frame, square_detector, cfg)
    got = sorted(d.boxes.astype(int).tolist())
    assert got == sorted([list(s) for s in squares])


def test_merge_drops_fragments_but_keeps_neighbours_and_other_classes():
    boxes = np.array([[0, 0, 100, 100], [50, 0, 100, 100], [100, 0, 200, 100], [50, 0, 100, 100]], np.float32)
    d = Detections(
        boxes=boxes, scores=np.array([0.9, 0.8, 0.85, 0.7], np.float32), class_ids=np.array([0, 0, 0, 1], np.int32)
    )
    m = merge(d, TilingConfig())
    assert sorted(map(tuple, m.boxes.astype(int).tolist())) == [(0, 0, 100, 100), (50, 0, 100, 100), (100, 0, 200, 100)]
    assert sorted(m.class_ids.tolist()) == [0, 0, 1]  # the half box survives only as the other class


def test_tiling_finds_more_products_on_real_shelf_photos(zoo, shared_data):
    from edge.images import list_images, read_image
    from edge.vision.detector import Detector

    whole = Detector(zoo / "nanodet.card.json")
    tiled = Detector(zoo / "nanodet.card.json", tiles={"size": 800, "overlap": 0.2})
    images = list_images(shared_data / "shelf" / "sku110k_sample" / "images")[:3]
    n_whole = n_tiled = 0
    for path in images:
        frame = read_image(path)
        a, b = whole.detect(frame), tiled.detect(frame)
        n_whole, n_tiled = n_whole + len(a), n_tiled + len(b)
        h, w = frame.shape[:2]
        assert (
            (b.boxes[:, [0, 2]] >= -1).all()
            and (b.boxes[:, [0, 2]] <= w + 1).all()
            and (b.boxes[:, [1, 3]] <= h + 1).all()
        )
    assert n_tiled >= 3 * max(n_whole, 5)  # measured 2026-11-22: 3 whole vs 109 tiled (INT8) on these three
