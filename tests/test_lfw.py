"""LFW View 2: the pairs reader, the 10-fold protocol, missed faces as errors, and a small real run of
`edgekit faces eval --lfw` through the built pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from edge.errors import EdgekitError
from edge.faces import lfw


@pytest.fixture(scope="module")
def lfw_dir(shared_data):
    d = shared_data / "faces" / "lfw"
    if not (d / "meta" / "pairs.txt").is_file():
        pytest.skip(f"needs {d} (LFW with meta/pairs.txt)")
    return d


def test_pairs_txt_is_read_as_ten_folds_of_300_same_and_300_different(lfw_dir):
    p = lfw.read_pairs(lfw_dir)
    assert len(p) == 6000 and sorted(set(p.fold.tolist())) == list(range(10))
    for f in range(10):
        assert p.same[p.fold == f].sum() == 300 and (~p.same[p.fold == f]).sum() == 300
    assert p.a[0] == "Abel_Pacheco/Abel_Pacheco_0001.jpg" and p.b[0] == "Abel_Pacheco/Abel_Pacheco_0004.jpg"
    assert all((p.images / x).is_file() for x in p.photos()[:50])
    assert len(p.photos()) == 7701
    sub = lfw.read_pairs(lfw_dir / "meta" / "pairs.txt", folds=2, limit=5)
    assert len(sub) == 20 and sub.same.sum() == 10 and set(sub.fold.tolist()) == {0, 1}


def test_truncated_pairs_file_is_named(tmp_path):
    (tmp_path / "pairs.txt").write_text("10\t300\nAbel_Pacheco\t1\t4\n")
    with pytest.raises(EdgekitError, match="1 pair lines, the header promises 6000"):
        lfw.read_pairs(tmp_path / "pairs.txt")
    with pytest.raises(EdgekitError, match="no meta/pairs.txt"):
        lfw.read_pairs(tmp_path / "nothing")


def test_each_fold_threshold_comes_from_the_other_folds():
    # fold 0 alone would be split perfectly above 0.4, but folds 1 and 2 put the threshold at 0.3: fold 0's
    # different pair at 0.4 is then accepted, so fold 0 scores 3/4, not 4/4.
    scores = np.array([0.6, 0.5, 0.4, 0.2, 0.4, 0.3, 0.35, 0.2, 0.9, 0.35, 0.25, 0.1])
    same = np.array([1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0], bool)
    fold = np.repeat([0, 1, 2], 4)
    r = lfw.ten_fold(scores, same, fold)
    assert r["fold_accuracies"][0] == 0.75
    assert r["fold_thresholds"][0] == pytest.approx(0.3)


def test_a_missed_face_is_an_error_never_dropped(tmp_path):
    pairs = lfw.Pairs(
        ["a", "c", "a", "c"], ["b", "d", "d", "b"], np.array([1, 1, 0, 0], bool), np.zeros(4, int), tmp_path
    )
    v = {"a": np.array([1.0, 0.0]), "b": np.array([1.0, 0.0]), "c": None, "d": np.array([0.0, 1.0])}
    scores, missed = lfw.pair_scores(pairs, v)
    assert missed == 1 and scores[1] == scores[3] == -np.inf  # rejected in the ROC, whether same or different
    r = lfw.lfw_report(
        np.r_[scores, scores],
        lfw.Pairs(pairs.a * 2, pairs.b * 2, np.r_[pairs.same, pairs.same], np.repeat([0, 1], 4), tmp_path),
        missed,
    )
    assert r["accuracy_mean"] == 0.5 and r["pairs_with_a_missed_face"] == 4


def test_the_subject_is_the_face_nearest_the_centre():
    boxes = np.array([[0, 0, 60, 60], [100, 100, 150, 150], [200, 10, 250, 60]], np.float32)  # sharpest first
    assert lfw.central_face(boxes, (250, 250, 3)) == 1
    assert lfw.central_face(np.zeros((0, 4)), (250, 250, 3)) is None


def test_cli_eval_lfw_on_a_real_subset(lfw_dir, zoo, tmp_path):
    cfg = tmp_path / "site.yaml"
    cfg.write_text("detector: {model: blazeface_short}\nembedder: {model: faceres}\n")
    env = {**os.environ, "EDGEKIT_MODELS": str(zoo)}
    cmd = [
        sys.executable,
        "-m",
        "edge.cli",
        "faces",
        "eval",
        "--lfw",
        str(lfw_dir),
        "--folds",
        "2",
        "--limit",
        "8",
        "--config",
        str(cfg),
        "--cache",
        str(tmp_path / "cache"),
        "--json",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("lfw", "lfw_float"):
        assert {"accuracy_mean", "accuracy_std", "auc", "tar_at_far_1e-3", "faces_missed"} <= set(out[key])
        assert out[key]["pairs"] == 32 and out[key]["accuracy_mean"] >= 0.75 and out[key]["auc"] > 0.85
        assert out[key]["thresholds"]["unlock"] >= out[key]["thresholds"]["recognize"] - 0.2
    assert "nearest the image centre" in out["subject_rule"]
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2  # one per pipeline: a second run reads them
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert json.loads(again.stdout)["lfw"]["accuracy_mean"] == out["lfw"]["accuracy_mean"]
    assert "photo/s" not in again.stderr  # nothing left to embed: no progress bar
