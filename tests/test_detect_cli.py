"""`edgekit detect` as a user runs it right after `edgekit models import`: a real process, real weights, real photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT


def edgekit(*args, models):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEKIT_MODELS": str(models)}
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *map(str, args)], capture_output=True, text=True, timeout=300, env=env
    )


@pytest.fixture(scope="module")
def models(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    r = edgekit(
        "models",
        "import",
        shared_data / "models/yolov8n_coco/yolov8n_full_integer_quant.tflite",
        "--name",
        "yolov8n",
        models=out,
    )
    assert r.returncode == 0, r.stderr
    return out


def test_one_json_line_per_photo_and_drawings(shared_data, models, tmp_path):
    assets = shared_data / "shelf/ultralytics_assets"
    bad = tmp_path / "broken.jpg"
    bad.write_text("not a picture")
    r = edgekit(
        "detect",
        assets / "bus.jpg",
        assets / "zidane.jpg",
        bad,
        "--model",
        "yolov8n",
        "--out",
        tmp_path / "o",
        models=models,
    )
    assert r.returncode == 2 and "1 of 3 photos could not be read" in r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["file"] for x in lines] == [str(assets / "bus.jpg"), str(assets / "zidane.jpg"), str(bad)]
    bus, zidane, broken = lines
    assert {"person", "bus"} <= {d["label"] for d in bus["detections"]} and bus["ms"] > 0
    assert {"person", "tie"} <= {d["label"] for d in zidane["detections"]}
    assert set(bus["detections"][0]) == {"label", "score", "box"} and len(bus["detections"][0]["box"]) == 4
    assert "cannot be decoded" in broken["error"]
    drawn, original = cv2.imread(str(tmp_path / "o" / "bus.jpg")), cv2.imread(str(assets / "bus.jpg"))
    assert drawn.shape == original.shape
    x1, y1, _, y2 = (int(v) for v in next(d for d in bus["detections"] if d["label"] == "bus")["box"])
    edge = np.abs(drawn[y1 + 5 : y2 - 5, x1].astype(int) - original[y1 + 5 : y2 - 5, x1]).mean()
    assert edge > 20  # the bus's box is drawn along its left side


def test_tiles_find_more_products_on_a_dense_shelf(shared_data, models, tmp_path):
    sku = tmp_path / "sku"
    assert (
        edgekit(
            "models",
            "import",
            shared_data / "models/sku110k_yolov8n/best_full_integer_quant.tflite",
            "--name",
            "sku",
            "--dir",
            sku,
            models=models,
        ).returncode
        == 0
    )
    photo = shared_data / "shelf/sku110k_sample/images/test_3.jpg"
    whole = json.loads(edgekit("detect", photo, "--model", sku / "sku.card.json", models=models).stdout)
    tiled = json.loads(
        edgekit("detect", photo, "--model", sku / "sku.card.json", "--tiles", "1280", models=models).stdout
    )
    assert len(tiled["detections"]) > 1.5 * len(whole["detections"]) > 60


def test_unknown_model_is_one_line(models, shared_data):
    r = edgekit("detect", shared_data / "shelf/ultralytics_assets/bus.jpg", "--model", "nosuch", models=models)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "nosuch.card.json: not found" in r.stderr
