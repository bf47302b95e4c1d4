"""`edgekit shelf preview|count` as a user runs them: a real process, NanoDet from the zoo, real shelf photos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def edgekit(*args):
    r = subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=300, cwd=ROOT)
    r.stderr = "".join(line for line in r.stderr.splitlines(True) if not line.startswith("INFO: "))
    return r


@pytest.fixture()
def site(zoo, tmp_path):
    """configs/shelf.yaml as shipped, pointed at the zoo."""
    text = (ROOT / "configs" / "shelf.yaml").read_text().replace("runtime:\n", f"runtime:\n  models_dir: {zoo}\n", 1)
    cfg = tmp_path / "site.yaml"
    cfg.write_text(text)
    return cfg


@pytest.fixture()
def photo(shared_data):
    return shared_data / "shelf" / "sku110k_sample" / "images" / "test_0.jpg"


def test_preview_draws_zones_and_counts(site, photo, tmp_path):
    out = tmp_path / "p" / "preview.png"
    r = edgekit("shelf", "preview", "--image", str(photo), "--config", str(site), "--out", str(out))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    n = int(lines[0].split()[0])
    assert n >= 10 and f"wrote {out}" in lines[0]
    zone_totals = {l.split(":")[0].strip(): l for l in lines[1:]}
    assert set(zone_totals) == {"top", "middle", "bottom"}
    drawn, original = cv2.imread(str(out)), cv2.imread(str(photo))
    assert drawn.shape == original.shape
    h, w = original.shape[:2]
    row = int(0.36 * h)  # the top/middle zone border is outlined across the photo
    assert np.abs(drawn[row, w // 4 : 3 * w // 4].astype(int) - original[row, w // 4 : 3 * w // 4]).mean() > 30
    # configured classes only
    counted = [pair.rsplit(" ", 1)[0] for l in lines[1:] for pair in l.split(": ", 1)[1].split(", ") if pair != "empty"]
    assert set(counted) <= {
        "bottle",
        "cup",
        "wine glass",
        "bowl",
        "banana",
        "apple",
        "orange",
        "broccoli",
        "carrot",
        "donut",
        "cake",
        "book",
        "vase",
    }


def test_count_tiled_finds_more_than_whole_frame(site, shared_data):
    images = shared_data / "shelf" / "sku110k_sample" / "images"
    tiled = [json.loads(l) for l in edgekit("shelf", "count", str(images), "--config", str(site)).stdout.splitlines()]
    whole = [
        json.loads(l)
        for l in edgekit("shelf", "count", str(images), "--config", str(site), "--no-tiles").stdout.splitlines()
    ]
    assert len(tiled) == len(whole) == len(list(images.glob("*.jpg")))
    assert sum(t["detections"] for t in tiled) > 3 * sum(w["detections"] for w in whole)
    for t in tiled:
        assert sum(sum(z.values()) for z in t["zones"].values()) <= t["detections"]


def test_corrupt_photo_never_crashes(site, shared_data, tmp_path):
    corrupt = shared_data / "shelf" / "sku110k_sample" / "corrupt_test_22.jpg"
    r = edgekit("shelf", "preview", "--image", str(corrupt), "--config", str(site), "--out", str(tmp_path / "c.png"))
    assert "Traceback" not in r.stderr
    # the file ends properly but has a damaged segment: OpenCV decodes what it can (degraded), or read_image refuses
    assert (r.returncode == 0 and (tmp_path / "c.png").is_file()) or (
        r.returncode != 0 and "corrupt_test_22.jpg" in r.stderr
    )
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(corrupt.read_bytes()[:5000])  # truncated: no end-of-image marker
    good = shared_data / "shelf" / "sku110k_sample" / "images" / "test_1.jpg"
    r = edgekit("shelf", "count", str(cut), str(good), "--config", str(site))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert "truncated JPEG" in rows[0]["error"] and rows[1]["image"] == str(good) and "zones" in rows[1]
    assert "1 of 2 photos could not be read" in r.stderr


def test_config_mistakes_are_one_line(site, photo, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(site.read_text().replace("min_total: 3", "min_totl: 3"))
    r = edgekit("shelf", "preview", "--image", str(photo), "--config", str(bad), "--out", str(tmp_path / "x.png"))
    assert r.returncode != 0 and "shelf.zones.1.min_totl" in r.stderr and "Traceback" not in r.stderr
    bad.write_text(site.read_text().replace("expected: [bottle]", "expected: [botle]"))
    r = edgekit("shelf", "preview", "--image", str(photo), "--config", str(bad), "--out", str(tmp_path / "x.png"))
    assert r.returncode != 0 and "zones.top.expected: ['botle']" in r.stderr and "Traceback" not in r.stderr
    noshelf = tmp_path / "noshelf.yaml"
    noshelf.write_text("device_id: x\n")
    r = edgekit("shelf", "count", str(photo), "--config", str(noshelf))
    assert r.returncode != 0 and "no 'shelf' section" in r.stderr
    r = edgekit(
        "shelf", "preview", "--image", str(photo), "--config", str(site), "--out", str(tmp_path / "x.unknownext")
    )
    assert r.returncode != 0 and "cannot be written" in r.stderr and "Traceback" not in r.stderr


def test_replay_prints_events_and_state(site, shared_data, tmp_path):
    images = shared_data / "shelf" / "sku110k_sample" / "images"
    fast = tmp_path / "fast.yaml"
    fast.write_text(site.read_text().replace("out_of_stock_seconds: 60", "out_of_stock_seconds: 5"))
    full, bare = images / "test_0.jpg", images / "test_1.jpg"  # test_1: NanoDet counts no bottles there
    r = edgekit("shelf", "replay", str(full), str(bare), str(full), "--config", str(fast), "--hold", "8")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    kinds = [(e["type"], e.get("zone")) for e in rows]
    assert kinds[:3] == [("count_changed", "top"), ("count_changed", "middle"), ("count_changed", "bottom")]
    assert ("out_of_stock", "middle") in kinds and ("restocked", "middle") in kinds
    assert kinds.index(("out_of_stock", "middle")) < kinds.index(("restocked", "middle"))
    oos = next(e for e in rows if e["type"] == "out_of_stock" and e["zone"] == "middle")
    assert oos["time"] - oos["since"] >= 5 and oos["image"] == "test_1.jpg"
    state = rows[-1]
    assert (
        state["type"] == "state"
        and state["zones"]["middle"]["out_of_stock"] is False
        and state["zones"]["middle"]["total"] >= 5
    )
