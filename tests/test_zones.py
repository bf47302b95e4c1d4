"""Polygon zones: point-in-polygon against OpenCV's own test, anchors, membership."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.errors import EdgekitError
from edge.vision.zones import anchor_points, as_polygon, points_in_polygon, zone_membership

L_SHAPE = np.array([[0, 0], [100, 0], [100, 40], [40, 40], [40, 100], [0, 100]], np.float32)  # concave


def test_concave_polygon_inside_outside_and_edges():
    pts = np.array(
        [[10, 10], [80, 20], [80, 80], [20, 80], [100, 20], [40, 70], [0, 50], [120, 5], [-1, -1]], np.float32
    )
    assert points_in_polygon(pts, L_SHAPE).tolist() == [True, True, False, True, True, True, True, False, False]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(-20, 120), st.floats(-20, 120)), min_size=1, max_size=40))
def test_agrees_with_opencv_point_polygon_test(points):
    pts = np.array(points, np.float32)
    ours = points_in_polygon(pts, L_SHAPE)
    dist = np.array([cv2.pointPolygonTest(L_SHAPE, (float(x), float(y)), True) for x, y in pts])
    clear = np.abs(dist) > 1e-2  # on the boundary both count as inside; float noise aside
    assert (ours[clear] == (dist[clear] > 0)).all()


def test_bottom_centre_and_centre_anchors():
    boxes = np.array([[10, 10, 30, 50]], np.float32)
    assert anchor_points(boxes).tolist() == [[20, 50]]
    assert anchor_points(boxes, "centre").tolist() == [[20, 30]]


def test_membership_uses_the_anchor_a_product_stands_on():
    shelf_top = [[0, 0], [200, 0], [200, 100], [0, 100]]
    shelf_bottom = [[0, 100], [200, 100], [200, 200], [0, 200]]
    # a tall bottle whose top is on the upper shelf's area but stands on the lower shelf
    boxes = np.array([[10, 60, 40, 190], [50, 10, 80, 90]], np.float32)
    m = zone_membership(boxes, [as_polygon(shelf_top), as_polygon(shelf_bottom)])
    assert m.tolist() == [[False, True], [True, False]]
    assert zone_membership(boxes[:0], [as_polygon(shelf_top)]).shape == (1, 0)


@pytest.mark.parametrize("points, why", [([[0, 0], [1, 1]], "at least 3"), ([[0, 0], [1, 1], [2, 2]], "no area")])
def test_bad_polygons_are_named(points, why):
    with pytest.raises(EdgekitError, match=f"zone 'facing 3'.*{why}"):
        as_polygon(points, "facing 3")
