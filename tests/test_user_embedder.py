"""A user's own ArcFace-class embedder (a float .tflite the zoo cannot ship) through `edgekit convert` with the card
from docs/examples, the accuracy gate (LFW folds included) and the device's FaceEmbedder with the ArcFace chip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("tensorflow", reason="converter tests need edgekit[convert]")

CARD = Path(__file__).resolve().parents[1] / "docs" / "examples" / "mobilefacenet_arcface.yaml"


@pytest.fixture(scope="module")
def converted(shared_data, zoo, tmp_path_factory):
    source = shared_data / "models" / "mobilefacenet_insightface" / "mobilefacenet.tflite"
    if not source.is_file():
        pytest.skip(f"needs {source}")
    tmp = tmp_path_factory.mktemp("user-embedder")
    card = yaml.safe_load(CARD.read_text())
    card["gate"]["lfw_limit"] = 10  # 200 LFW pairs: the test's share; the documented run uses 100 per fold
    card["calibration"]["max_images"] = 150
    (tmp / "card.yaml").write_text(yaml.safe_dump(card))
    out = tmp / "models"
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "convert", str(source), "--card", str(tmp / "card.yaml"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "EDGEKIT_MODELS": str(zoo), "EDGEKIT_SHARED_DATA": str(shared_data)},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_the_docs_card_converts_passes_the_gate_in_one_partition(converted):
    from edge.card import load_card

    card = load_card(converted / "mobilefacenet_arcface.card.json")
    assert card.gate["passed"] and card.partitions["partitions"] == 1
    assert card.quantization["prelu_fused"] == 33
    lfw = card.gate["lfw_accuracy[shared:faces/lfw]"]
    assert lfw["float"] - lfw["int8"] <= 0.003 and lfw["int8"] >= 0.95


def test_it_embeds_aligned_faces_on_the_device(converted, zoo, media):
    from edge.faces.detector import FaceDetector
    from edge.faces.embedder import FaceEmbedder
    from edge.images import read_image

    det = FaceDetector(zoo / "blazeface_short.card.json")
    emb = FaceEmbedder(converted / "mobilefacenet_arcface.card.json")
    assert emb.crop == "arcface_112" and emb.dim == 128
    vecs = {}
    for name in ("obama", "biden"):
        image = read_image(media(name))
        vecs[name] = emb.embed(image, det.detect(image)[0])[0]
    flipped = read_image(media("obama"))[:, ::-1].copy()
    same = emb.embed(flipped, det.detect(flipped)[0])[0]
    assert np.isclose(np.linalg.norm(vecs["obama"]), 1.0, atol=1e-4)
    assert float(same @ vecs["obama"]) > float(vecs["biden"] @ vecs["obama"]) + 0.2
