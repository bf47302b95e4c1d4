"""Polygon zones: which zone each detection stands in, judged by one anchor point of its box.

Shelves are photographed head-on, so a product "stands" where the bottom-centre of its box is (the default); `centre`
suits top-down views. A point on an edge counts as inside. Overlapping zones: a detection belongs to every zone it is
in (zones are usually disjoint facings; if not, the config says so by overlapping them).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from edge.errors import EdgekitError

Anchor = Literal["bottom_centre", "centre"]


def anchor_points(boxes: np.ndarray, anchor: Anchor = "bottom_centre") -> np.ndarray:
    """(N, 2) points of x1y1x2y2 boxes: bottom-centre or centre."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    x = (boxes[:, 0] + boxes[:, 2]) / 2
    y = boxes[:, 3] if anchor == "bottom_centre" else (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([x, y], 1)


def as_polygon(points, name: str = "zone") -> np.ndarray:
    """A config's [[x, y], ...] as a (K, 2) float32 polygon; fewer than 3 points or a zero area is named."""
    poly = np.asarray(points, np.float32)
    if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
        raise EdgekitError(
            f"zone '{name}': polygon needs at least 3 [x, y] points",
            "list the corners as [[x, y], [x, y], [x, y], ...]",
        )
    if abs(cv2.contourArea(poly)) < 1e-6:
        raise EdgekitError(
            f"zone '{name}': polygon has no area (points in a line or repeated)",
            "give the corners in order around the zone",
        )
    return poly


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) bool: each point inside or on the polygon. Even-odd ray casting, vectorised over points and edges."""
    p = np.asarray(points, np.float32).reshape(-1, 2)
    if len(p) == 0:
        return np.zeros(0, bool)
    a = np.asarray(polygon, np.float32)
    b = np.roll(a, -1, axis=0)
    px, py = p[:, None, 0], p[:, None, 1]
    ax, ay, bx, by = a[None, :, 0], a[None, :, 1], b[None, :, 0], b[None, :, 1]
    # crossings of a horizontal ray to the right of each point with each edge (half-open in y so vertices count once)
    straddles = (ay > py) != (by > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = ax + (py - ay) * (bx - ax) / (by - ay)
    inside = (straddles & (px < x_at)).sum(1) % 2 == 1
    # on an edge: collinear with it and within its extent (the ray test leaves half of these out)
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    within = (
        (np.minimum(ax, bx) - 1e-3 <= px)
        & (px <= np.maximum(ax, bx) + 1e-3)
        & (np.minimum(ay, by) - 1e-3 <= py)
        & (py <= np.maximum(ay, by) + 1e-3)
    )
    scale = np.hypot(bx - ax, by - ay) + 1e-9
    on_edge = ((np.abs(cross) / scale < 1e-3) & within).any(1)
    return inside | on_edge


def zone_membership(boxes: np.ndarray, polygons: list[np.ndarray], anchor: Anchor = "bottom_centre") -> np.ndarray:
    """(Z, N) bool: detection n stands in zone z."""
    pts = anchor_points(boxes, anchor)
    if not polygons:
        return np.zeros((0, len(pts)), bool)
    return np.stack([points_in_polygon(pts, poly) for poly in polygons])  # loop over zones (a handful), not detections
