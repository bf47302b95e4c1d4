"""`edgekit faces recall`: photos without a face are counted and listed, the zoomed second pass is reported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np


def test_recall_counts_and_lists_photos_without_a_face(shared_data, zoo, tmp_path):
    lfw = tmp_path / "faces" / "lfw" / "images" / "Someone"
    lfw.mkdir(parents=True)
    for name in ("Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Colin_Powell/Colin_Powell_0001.jpg"):
        shutil.copy(shared_data / "faces" / "lfw" / "images" / name, lfw / name.split("/")[1])
    cv2.imwrite(str(lfw / "blank.jpg"), np.full((250, 250, 3), 128, np.uint8))  # a wall: no face
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "faces",
            "recall",
            "--data",
            str(tmp_path / "faces"),
            "--detector",
            "blazeface_short",
            "--scores",
            "0.5,0.3",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "EDGEKIT_MODELS": str(zoo)},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)["blazeface_short"]["lfw"]
    for t in ("0.5", "0.3"):
        assert out[t]["photos"] == 3 and out[t]["without_a_face"] == 1
        assert out[t]["without_a_face_after_zoom"] == 1 and out[t]["misses"] == ["Someone/blank.jpg"]


def test_summary_reads_every_threshold_off_one_run():
    from edge.faces.recall import Found, summary

    found = Found(scores=[[0.9], [0.45], [], [0.8, 0.35]], zoom_scores=[0.0, 0.0, 0.6, 0.0], names=list("abcd"))
    strict, loose = summary(found, 0.5, True), summary(found, 0.3, True)
    assert (strict["without_a_face"], strict["without_a_face_after_zoom"], strict["misses"]) == (2, 1, ["b"])
    assert (loose["without_a_face"], loose["with_several_faces"], loose["misses"]) == (1, 1, [])
