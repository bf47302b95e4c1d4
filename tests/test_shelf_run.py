"""The shelf app end to end: scene gate -> tiled NanoDet (zoo) -> zones -> smoothed counts -> events, on a real shelf
photo whose middle shelf is then emptied (painted over) and refilled."""

from __future__ import annotations

import cv2
import pytest

from edge.apps.shelf.policy import ShelfConfig
from edge.apps.shelf.run import ShelfRun

ZONES = [
    {"name": "top", "polygon": [[0, 0], [1, 0], [1, 0.36], [0, 0.36]]},
    {"name": "middle", "polygon": [[0, 0.36], [1, 0.36], [1, 0.68], [0, 0.68]], "min_total": 3},
    {"name": "bottom", "polygon": [[0, 0.68], [1, 0.68], [1, 1], [0, 1]]},
]


@pytest.fixture(scope="module")
def photo(shared_data):
    from edge.images import read_image

    return cv2.resize(
        read_image(shared_data / "shelf" / "sku110k_sample" / "images" / "test_0.jpg"),
        (1224, 1632),
        interpolation=cv2.INTER_AREA,
    )


def _cfg(**kw):
    return ShelfConfig.model_validate(
        {
            "zones": ZONES,
            "zone_units": "fraction",
            "classes": ["bottle"],
            "smoothing_frames": 3,
            "out_of_stock_seconds": 20,
            "tiles": {"size": 500, "overlap": 0.2},
            "scene": {"threshold": 6.0, "max_interval_s": None},
            **kw,
        }
    )


def _emptied(photo):
    out = photo.copy()
    h = photo.shape[0]
    out[int(0.36 * h) : int(0.68 * h)] = (200, 200, 200)  # a bare middle shelf
    return out


def test_counts_out_of_stock_and_restock_through_the_gate(zoo, photo):
    run = ShelfRun(_cfg(), zoo)
    timeline = (
        [(t, photo) for t in range(6)]
        + [(10 + t, _emptied(photo)) for t in range(6)]
        + [(40 + t, photo) for t in range(4)]
    )
    events = []
    for t, frame in timeline:
        events += run.process(frame, float(t))
    first = [e for e in events if e["type"] == "count_changed" and e["previous"] is None]
    assert {e["zone"] for e in first} == {"top", "middle", "bottom"} and all(e["time"] == 2.0 for e in first)
    middle = next(e for e in first if e["zone"] == "middle")
    assert middle["counts"].get("bottle", 0) >= 5
    dropped = [e for e in events if e["type"] == "count_changed" and e["zone"] == "middle" and e["previous"]]
    assert dropped and dropped[0]["time"] == 11.0 and dropped[0]["total"] == 0  # the median moves on the 2nd frame
    oos = [e for e in events if e["type"] == "out_of_stock"]
    restock = [e for e in events if e["type"] == "restocked"]
    # below from t=11; frames 13..15 are skipped by the gate but their tick still runs the hold: 20 s is reached at 31,
    # the next call after that is at t=40, which first ticks (out_of_stock), then the refilled shelf restocks it at t=41
    assert len(oos) == 1 and oos[0]["zone"] == "middle" and oos[0]["since"] == 11.0 and oos[0]["time"] == 40.0
    assert len(restock) == 1 and restock[0]["zone"] == "middle" and restock[0]["time"] == 41.0
    assert run.shelf.state()["zones"]["middle"]["out_of_stock"] is False


def test_gate_skips_an_unchanged_scene(zoo, photo):
    run = ShelfRun(_cfg(), zoo)
    calls = []
    inner = run.detector.detect
    run.detector.detect = lambda f: calls.append(1) or inner(f)  # count model passes (the real detector still runs)
    for t in range(8):
        run.process(photo, float(t))
    assert len(calls) == 3  # one burst of smoothing_frames
    run.process(_emptied(photo), 8.0)
    assert len(calls) == 4


def test_classifier_stage_on_crops(zoo, photo, tmp_path):
    pytest.importorskip("tensorflow")
    from tests.tflite_graphs import colour_classifier_graph, output_names, write_card

    graph = colour_classifier_graph(16)
    card = write_card(
        tmp_path,
        "colour",
        graph,
        task="classifier",
        decoder={"name": "classifier", "params": {"top_k": 1}},
        labels=["red", "green", "blue"],
        outputs=["logits"],
        output_tensors=output_names(graph),
        size=(16, 16),
    )
    run = ShelfRun(_cfg(smoothing_frames=1, classifier={"card": str(card), "classes": ["bottle"]}), zoo)
    obs = run.observe(photo)
    assert len(obs.detections) and len(obs.attributes) == len(obs.detections)
    assert all(a and a[0]["label"] in ("red", "green", "blue") for a in obs.attributes)
    events = run.process(photo, 0.0)
    tallies = {e["zone"]: e["classified"] for e in events if e["type"] == "count_changed"}
    assert sum(sum(v.values()) for v in tallies.values()) == int(obs.zones.any(0).sum())
    scene = ShelfRun(_cfg(smoothing_frames=1, classifier={"card": str(card), "on": "frame"}), zoo).process(photo, 0.0)
    assert all(e["scene"][0]["label"] in ("red", "green", "blue") for e in scene)


def test_a_detector_update_with_the_same_labels_swaps_in_and_other_labels_are_refused(zoo, tmp_path):
    """A model update reaching a running shelf (ShelfRun.reload): the float build of NanoDet (same COCO labels) swaps
    in and detects; the same model carded with other labels is refused, since zones and planogram name labels."""
    import json
    import shutil

    from edge.errors import EdgekitError
    from edge.media import media

    run = ShelfRun(_cfg(detector="nanodet"), zoo)
    for suffix in (".tflite", ".card.json"):
        shutil.copy(zoo / f"nanodet.float{suffix}", tmp_path / f"nanodet{suffix}")
    card = tmp_path / "nanodet.card.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "name": "nanodet", "tflite": "nanodet.tflite"}))
    run.reload("nanodet", card)
    assert run.detector.card.target == "float"
    dets = run.detector.detect(cv2.imread(str(media("obama"))))  # a real photo of a man: the new detector finds him
    assert "person" in {run.detector.label(int(c)) for c in dets.class_ids}
    relabelled = tmp_path / "relabelled"
    relabelled.mkdir()
    shutil.copy(tmp_path / "nanodet.tflite", relabelled / "nanodet.tflite")
    other = json.loads(card.read_text())
    other["labels"] = [f"sku{i}" for i in range(len(other["labels"]))]
    (relabelled / "nanodet.card.json").write_text(json.dumps(other))
    with pytest.raises(EdgekitError, match="labels differ"):
        run.reload("nanodet", relabelled / "nanodet.card.json")
    assert run.detector.card.target == "float" and run.detector.labels[0] == "person"  # the running one stays
