"""A shelf that counts products: configs/shelf.yaml's `products` profile (the SKU-110K YOLOv8n, imported by the test
from ../shared/data) on real shelf photos: products boxed per shelf, and out-of-stock when a shelf is emptied (masked
out of a real photo), restocked when it is back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from converters.importer import Options, import_model
from edge.apps.shelf.policy import ShelfConfig
from edge.apps.shelf.run import ShelfRun
from edge.config import parse_config
from edge.errors import EdgekitError
from tests.conftest import ROOT

CONFIG = ROOT / "configs" / "shelf.yaml"


@pytest.fixture(scope="module")
def models(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    import_model(
        shared_data / "models/sku110k_yolov8n/best_full_integer_quant.tflite", out, Options(name="sku110k_yolov8n")
    )
    return out


def products_config() -> ShelfConfig:
    raw = yaml.safe_load(CONFIG.read_text())
    raw["shelf"]["profile"] = "products"
    return parse_config(raw, str(CONFIG)).shelf


@pytest.fixture(scope="module")
def photo(shared_data):
    return cv2.imread(str(shared_data / "shelf/sku110k_sample/images/test_3.jpg"))


def test_products_profile_replaces_detector_tiles_and_zones():
    cfg = products_config()
    assert cfg.detector == "sku110k_yolov8n" and cfg.tiles.size == 1280 and cfg.tiles.max_detections == 2000
    assert [z.name for z in cfg.zones] == [f"shelf{i}" for i in range(1, 7)]
    base = parse_config(yaml.safe_load(CONFIG.read_text()), str(CONFIG)).shelf
    assert base.detector == "nanodet" and [z.name for z in base.zones] == ["top", "middle", "bottom"]


def test_a_typo_in_an_unchosen_profile_is_named_at_load():
    raw = yaml.safe_load(CONFIG.read_text())
    raw["shelf"]["profiles"]["products"]["tiles"] = {"sise": 1280}
    with pytest.raises(EdgekitError, match=r"profiles\.products\.tiles\.sise"):
        parse_config(raw, "site.yaml")
    raw["shelf"]["profiles"]["products"] = {"detectr": "x"}
    with pytest.raises(EdgekitError, match=r"profiles\.products: unknown key\(s\) \['detectr'\]"):
        parse_config(raw, "site.yaml")
    raw["shelf"]["profile"] = "produce"
    raw["shelf"]["profiles"] = {}
    with pytest.raises(EdgekitError, match="profile 'produce' is not defined"):
        parse_config(raw, "site.yaml")


def test_missing_product_card_names_the_import_command(tmp_path):
    with pytest.raises(
        EdgekitError, match="edgekit models import .*best_full_integer_quant.tflite --name sku110k_yolov8n"
    ):
        ShelfRun(products_config(), tmp_path)


def test_products_are_counted_on_every_shelf_of_a_real_photo(models, photo):
    run = ShelfRun(products_config(), models)
    obs = run.observe(photo)
    assert len(obs.detections) >= 90  # about 150 products are visible; NanoDet (COCO) found 4
    per_zone = obs.zones.sum(1)
    assert (per_zone >= 2).all(), dict(zip(run.shelf.zone_names, per_zone))
    assert per_zone[:4].min() >= 10  # the four upper shelves are full
    assert not (~obs.zones.any(0)).any()  # the zones cover the shelves: no product outside them


def mask_zone(frame: np.ndarray, cfg: ShelfConfig, name: str) -> np.ndarray:
    """The photo with one shelf emptied: its zone painted with the zone's median colour."""
    h, w = frame.shape[:2]
    zone = next(z for z in cfg.zones if z.name == name)
    poly = np.round(np.array(zone.polygon) * [w, h]).astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [poly], 255)
    out = frame.copy()
    out[mask > 0] = np.median(frame[mask > 0], axis=0).astype(np.uint8)
    return out


def test_an_emptied_shelf_goes_out_of_stock_and_comes_back(models, photo):
    cfg = products_config()
    run = ShelfRun(cfg, models)
    emptied = mask_zone(photo, cfg, "shelf3")
    events, now = [], 0.0
    for frame, seconds in ((photo, 10), (emptied, 70), (photo, 10)):
        for _ in range(seconds):  # a camera at 1 fps; the scene gate processes a burst per change
            events += run.process(frame, now)
            now += 1.0
    kinds = [(e["type"], e.get("zone")) for e in events if e["type"] in ("out_of_stock", "restocked")]
    assert kinds == [("out_of_stock", "shelf3"), ("restocked", "shelf3")], kinds
    out = next(e for e in events if e["type"] == "out_of_stock")
    assert 70 <= out["time"] <= 80  # emptied at t=10, held for out_of_stock_seconds (60)
