"""Shelf logic (pure): median smoothing, hysteresis, out_of_stock/restocked holds, planogram violations, scene gate,
config errors. Detections are written by hand here: the logic takes any detector's output."""

from __future__ import annotations

import numpy as np
import pytest

from edge.apps.shelf.policy import SceneConfig, SceneGate, Shelf, ShelfConfig
from edge.config import parse_config
from edge.errors import EdgekitError
from edge.vision.detections import Detections

LABELS = ["person", "bottle", "cup", "banana"]
TOP = [[0, 0], [400, 0], [400, 100], [0, 100]]
BOTTOM = [[0, 100], [400, 100], [400, 200], [0, 200]]


def dets(*items):
    """items: (label, x) products 30 px wide standing on the top shelf (y 20..90), or (label, x, 'bottom')."""
    boxes = [[x, 120, x + 30, 190] if rest else [x, 20, x + 30, 90] for _, x, *rest in items]
    return Detections(
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        scores=np.full(len(items), 0.8, np.float32),
        class_ids=np.array([LABELS.index(l) for l, *_ in items], np.int32),
    )


def shelf(**kw):
    zones = kw.pop(
        "zones",
        [
            {"name": "top", "polygon": TOP, "expected": ["bottle"], "minimum": {"bottle": 3}},
            {"name": "bottom", "polygon": BOTTOM, "min_total": 1},
        ],
    )
    return Shelf(ShelfConfig(zones=zones, tiles=None, **kw), LABELS)


def bottles(n):
    return [("bottle", 10 + 40 * i) for i in range(n)]


def run(s, frames, t0=0.0, dt=1.0):
    events = []
    for i, d in enumerate(frames):
        events += s.update(d, (400, 200), t0 + i * dt)
    return events


def test_first_report_after_the_window_fills_then_one_missed_detection_changes_nothing():
    s = shelf(smoothing_frames=3)
    assert run(s, [dets(*bottles(4))] * 2) == []
    first = s.update(dets(*bottles(4)), (400, 200), 2.0)
    assert [(e["type"], e["zone"], e["counts"], e["previous"]) for e in first] == [
        ("count_changed", "top", {"bottle": 4}, None),
        ("count_changed", "bottom", {}, None),
    ]
    flicker = [dets(*bottles(3)), dets(*bottles(4)), dets(*bottles(4)), dets(*bottles(5)), dets(*bottles(4))]
    assert [e for e in run(s, flicker, 3.0) if e["type"] == "count_changed"] == []
    assert s.state()["zones"]["top"]["counts"] == {"bottle": 4}


def test_a_real_change_is_reported_once_the_median_moves():
    s = shelf(smoothing_frames=3)
    run(s, [dets(*bottles(4))] * 3)
    events = run(s, [dets(*bottles(2))] * 3, 10.0)
    changed = [e for e in events if e["type"] == "count_changed"]
    assert len(changed) == 1 and changed[0]["counts"] == {"bottle": 2} and changed[0]["previous"] == {"bottle": 4}
    assert changed[0]["time"] == 11.0  # the second frame makes the median move


def test_change_margin_ignores_plus_minus_one():
    s = shelf(smoothing_frames=1, change_margin=2)
    run(s, [dets(*bottles(6))])
    assert [
        e
        for e in run(s, [dets(*bottles(5)), dets(*bottles(7)), dets(*bottles(5))], 1.0)
        if e["type"] == "count_changed"
    ] == []
    assert [e["counts"] for e in run(s, [dets(*bottles(4))], 5.0) if e["type"] == "count_changed"] == [{"bottle": 4}]


def test_out_of_stock_only_after_the_hold_and_restocked_with_margin():
    s = shelf(
        smoothing_frames=1,
        out_of_stock_seconds=30,
        restock_margin=1,
        zones=[{"name": "top", "polygon": TOP, "minimum": {"bottle": 3}}],
    )
    run(s, [dets(*bottles(4))])
    events = run(s, [dets(*bottles(1))] * 4, 10.0, 10.0)  # below minimum from t=10; 30 s later at t=40
    oos = [e for e in events if e["type"] == "out_of_stock"]
    assert len(oos) == 1 and oos[0]["time"] == 40.0 and oos[0]["since"] == 10.0
    assert oos[0]["zone"] == "top" and oos[0]["class"] == "bottle" and oos[0]["count"] == 1 and oos[0]["minimum"] == 3
    assert s.state()["zones"]["top"]["out_of_stock"] is True
    assert [e["type"] for e in run(s, [dets(*bottles(3))], 50.0)] == ["count_changed"]  # at minimum, below the margin
    restocked = [e for e in run(s, [dets(*bottles(4))], 60.0) if e["type"] == "restocked"]
    assert len(restocked) == 1 and restocked[0]["out_for_s"] == 50.0
    assert s.state()["zones"]["top"]["out_of_stock"] is False


def test_a_dip_shorter_than_the_hold_raises_nothing_and_tick_fires_between_frames():
    s = shelf(
        smoothing_frames=1, out_of_stock_seconds=30, zones=[{"name": "bottom", "polygon": BOTTOM, "min_total": 1}]
    )
    run(s, [dets(("cup", 10, "bottom"))])
    events = run(s, [dets(), dets(), dets(("banana", 50, "bottom"))], 1.0, 10.0)
    assert [e["type"] for e in events if e["type"] in ("out_of_stock", "restocked")] == []
    run(s, [dets()], 100.0)
    assert s.tick(120.0) == []
    assert [e["type"] for e in s.tick(130.0)] == ["out_of_stock"]
    assert s.tick(200.0) == []  # once


def test_planogram_violation_once_per_appearance():
    s = shelf(smoothing_frames=1)
    run(s, [dets(*bottles(3))])
    ev = run(s, [dets(*bottles(3), ("banana", 300)), dets(*bottles(3), ("banana", 300))], 1.0)
    v = [e for e in ev if e["type"] == "planogram_violation"]
    assert len(v) == 1 and v[0]["zone"] == "top" and v[0]["class"] == "banana" and v[0]["expected"] == ["bottle"]
    run(s, [dets(*bottles(3))], 3.0)
    assert len([e for e in run(s, [dets(*bottles(3), ("cup", 300))], 4.0) if e["type"] == "planogram_violation"]) == 1
    # the bottom zone expects nothing in particular: anything goes there
    assert [
        e
        for e in run(s, [dets(*bottles(3), ("cup", 300), ("person", 10, "bottom"))], 5.0)
        if e["type"] == "planogram_violation"
    ] == []


def test_counted_classes_and_score_threshold_filter():
    s = shelf(smoothing_frames=1, classes=["bottle", "cup"], score_threshold=0.5)
    d = dets(*bottles(2), ("person", 200), ("cup", 300))
    d.scores[0] = 0.3
    ev = run(s, [d])
    assert ev[0]["counts"] == {"bottle": 1, "cup": 1}


def test_fraction_zones_scale_with_the_frame():
    s = shelf(
        smoothing_frames=1,
        zone_units="fraction",
        zones=[{"name": "left", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}],
    )
    d = dets(("bottle", 10), ("bottle", 300))
    assert s.update(d, (400, 200), 0.0)[0]["counts"] == {"bottle": 1}
    s2 = shelf(
        smoothing_frames=1,
        zone_units="fraction",
        zones=[{"name": "left", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}],
    )
    assert s2.update(d, (800, 200), 0.0)[0]["counts"] == {"bottle": 2}


def test_classifier_labels_are_tallied_per_zone():
    s = shelf(smoothing_frames=1)
    ev = s.update(
        dets(*bottles(3), ("cup", 10, "bottom")), (400, 200), 0.0, attributes=["cola", "cola", None, "espresso"]
    )
    assert {e["zone"]: e.get("classified") for e in ev} == {"top": {"cola": 2}, "bottom": {"espresso": 1}}
    assert s.state()["zones"]["top"]["classified"] == {"cola": 2}


def _frame(seed, shape=(240, 320, 3)):
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


def test_scene_gate_bursts_on_change_and_on_schedule():
    gate = SceneGate(SceneConfig(threshold=6.0, max_interval_s=60.0), burst=3)
    a, b = _frame(1), _frame(2)
    seen = [gate.check(a, t) for t in range(6)]
    assert seen == [True, True, True, False, False, False]  # first frame starts a burst, the same scene then rests
    assert [gate.check(b, 6 + t) for t in range(4)] == [True, True, True, False]
    assert gate.check(b, 69.0) is True  # due by schedule


def test_scene_gate_min_interval_and_small_changes():
    gate = SceneGate(SceneConfig(threshold=6.0, min_interval_s=10.0, max_interval_s=None), burst=1)
    a = _frame(1)
    assert gate.check(a, 0.0)
    noisy = np.clip(a.astype(int) + 2, 0, 255).astype(np.uint8)  # lighting drift below the threshold
    assert not gate.check(noisy, 1.0)
    assert not gate.check(_frame(3), 5.0)  # changed, but sooner than min_interval_s
    assert gate.check(_frame(3), 11.0)


def test_site_config_errors_name_the_key():
    base = {"zones": [{"name": "top", "polygon": TOP}]}
    assert parse_config({"shelf": base}).shelf.zones[0].name == "top"
    with pytest.raises(EdgekitError, match="shelf.zones.0.minmum"):
        parse_config({"shelf": {"zones": [{"name": "top", "polygon": TOP, "minmum": {"bottle": 1}}]}})
    with pytest.raises(EdgekitError, match="shelf.zones.0.*no area"):
        parse_config({"shelf": {"zones": [{"name": "top", "polygon": [[0, 0], [1, 1], [2, 2]]}]}})
    with pytest.raises(EdgekitError, match="shelf.*unique.*top"):
        parse_config({"shelf": {"zones": [{"name": "top", "polygon": TOP}, {"name": "top", "polygon": BOTTOM}]}})
    with pytest.raises(EdgekitError, match="shelf.tiles.overlap"):
        parse_config({"shelf": {**base, "tiles": {"overlap": 1.5}}})


def test_unknown_class_names_are_named_with_the_zone():
    with pytest.raises(EdgekitError, match="zones.top.minimum: \\['bottel'\\]"):
        shelf(zones=[{"name": "top", "polygon": TOP, "minimum": {"bottel": 2}}])
