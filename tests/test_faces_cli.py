"""`edgekit faces ...` as a user runs it (a real process, the built zoo, a gallery in a temporary folder)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest


@pytest.fixture()
def site(zoo, tmp_path):
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"runtime:\n  models_dir: {zoo}\ngallery:\n  path: {tmp_path / 'gallery.db'}\n")
    return cfg


def edgekit(*args):
    r = subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=300)
    # LiteRT's own C++ log line ("INFO: Created TensorFlow Lite XNNPACK delegate") is not edgekit's to judge here
    r.stderr = "".join(line for line in r.stderr.splitlines(True) if not line.startswith("INFO: "))
    return r


def test_enroll_list_export_import_remove(site, media, shared_data, tmp_path):
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(media("obama").read_bytes()[:4000])
    zidane = shared_data / "shelf" / "ultralytics_assets" / "zidane.jpg"
    r = edgekit(
        "faces",
        "enroll",
        "obama",
        str(media("obama")),
        str(media("obama2")),
        str(zidane),
        str(cut),
        "--config",
        str(site),
    )
    assert r.returncode == 0, r.stderr
    assert "enrolled obama: 2 embedding(s) (faceres)" in r.stdout
    assert re.search(f"rejected {re.escape(str(zidane))}: [2-9] faces found, enrollment needs exactly one", r.stderr)
    assert f"rejected {cut}: image {cut}: truncated JPEG" in r.stderr
    r = edgekit(
        "faces", "enroll", "carphone-man", "--video", str(media("carphone")), "--max", "3", "--config", str(site)
    )
    assert r.returncode == 0, r.stderr
    assert "view(s) kept" in r.stderr
    listing = dict(line.split("\t") for line in edgekit("faces", "list", "--config", str(site)).stdout.splitlines())
    assert listing["obama"] == "2" and 1 <= int(listing["carphone-man"]) <= 3

    out = tmp_path / "export.json"
    assert edgekit("faces", "export", str(out), "--config", str(site)).returncode == 0
    other = tmp_path / "other.yaml"
    other.write_text(site.read_text().replace("gallery.db", "copy.db"))
    r = edgekit("faces", "import", str(out), "--config", str(other))
    assert r.returncode == 0 and r.stdout.startswith(f"imported {2 + int(listing['carphone-man'])} embeddings")
    r = edgekit("faces", "remove", "obama", "--config", str(site))
    assert r.returncode == 0 and "removed obama (2 embeddings)" in r.stdout
    r = edgekit("faces", "remove", "obama", "--config", str(site))
    assert (
        r.returncode == 2
        and r.stderr.strip() == "error: identity 'obama': not in the gallery; see `edgekit faces list`"
    )


def test_enroll_with_no_usable_picture_or_a_bad_gallery_is_one_line(site, tmp_path, media):
    blank = tmp_path / "blank.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    r = edgekit("faces", "enroll", "nobody", str(blank), "--config", str(site))
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        f"rejected {blank}: no face found",
        "error: enroll nobody: no usable picture; use sharp, frontal pictures with exactly one face",
    ]
    bad = tmp_path / "gallery.db"
    bad.write_bytes(b"not a database" * 100)
    r = edgekit("faces", "enroll", "obama", str(media("obama")), "--config", str(site))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "gallery.db: not an edgekit gallery" in r.stderr and bad.read_bytes() == b"not a database" * 100


def test_calibrate_on_the_deepface_pairs(site, shared_data, tmp_path):
    roc = tmp_path / "roc.csv"
    r = edgekit(
        "faces",
        "calibrate",
        "--pairs",
        str(shared_data / "faces" / "deepface" / "pairs.csv"),
        "--roc",
        str(roc),
        "--config",
        str(site),
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["pairs"] == 300 and rep["same"] == 38 and rep["skipped_pairs"] == 0
    assert rep["auc"] >= 0.99 and rep["best_accuracy"] >= 0.99 and rep["accuracy_at_threshold"] >= 0.99
    assert 0.3 < rep["recommended"]["unknown"] <= rep["recommended"]["recognize"] < 0.9
    assert rep["tar_at_far_0.01"] >= 0.95
    lines = roc.read_text().splitlines()
    assert lines[0] == "threshold,far,tar" and len(lines) == rep["roc_points"] + 1
    far = [float(x.split(",")[1]) for x in lines[1:]]
    assert far == sorted(far) and far[-1] == 1.0


def test_calibrate_needs_one_source(site):
    r = edgekit("faces", "calibrate", "--config", str(site))
    assert r.returncode == 2 and "give one of --pairs CSV, --identities DIR or --lfw [DIR]" in r.stderr


def test_eval_prints_the_accuracy_figures(site, shared_data):
    r = edgekit("faces", "eval", "--json", "--config", str(site))
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["pairs.csv"]["pairs"] == 300 and rep["pairs_extended.csv"]["pairs"] == 280  # img47 (a WebP) is read too
    assert rep["pairs.csv"]["accuracy_at_threshold"] >= 0.99 and rep["pairs_extended.csv"]["auc"] >= 0.99
    assert rep["att"]["identities"] == 40 and rep["att"]["rank1_all_but_one"] >= 0.99
    assert rep["faceapi_bbt"]["images"] == 40 and rep["faceapi_bbt"]["rank1_one_enrolled"] >= 0.9
