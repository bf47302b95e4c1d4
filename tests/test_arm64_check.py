"""The emulated-arm64 check (scripts/arm64): its comparison on real x86 runs, and the whole check when asked for
(EDGEKIT_ARM64_CHECK=1; about 2 minutes from scratch, see docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.media import media

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts" / "arm64"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"arm64_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def x86_run(zoo, tmp_path_factory):
    d = tmp_path_factory.mktemp("arm64")
    photos = [str(media(n)) for n in ("obama", "astronaut")]
    args = ["--models", str(zoo), "--photos", *photos, "--inputs", str(d / "inputs"), "--out", str(d / "a.json")]
    assert _load("device_check").main([*args, "--save-inputs"]) == 0
    return d


def test_two_identical_runs_agree(x86_run):
    check = _load("check")
    shutil.copy(x86_run / "a.json", x86_run / "b.json")
    shutil.copy(x86_run / "a.npz", x86_run / "b.npz")
    r = check.compare(x86_run / "a.json", x86_run / "b.json")
    n = r["models_loaded_on_arm64"].split()[-1]  # every INT8 model of the zoo
    assert r["passed"] and r["int8_outputs_bit_exact_on_same_input"] == f"{n} of {n}", r
    assert r["embedding_cosine_min"]["faceres"] > 0.9999 and r["faces_x86_arm64"]["obama.jpg"] == [1, 1]


def test_a_changed_embedding_a_lost_face_and_a_missing_model_are_named(x86_run):
    check = _load("check")
    other = json.loads((x86_run / "a.json").read_text())
    other["photos"]["astronaut.png"]["faces"] = []
    del other["models"]["nanodet"]
    (x86_run / "c.json").write_text(json.dumps(other))
    arrays = dict(np.load(x86_run / "a.npz"))
    arrays["obama.jpg|faceres"] = arrays["obama.jpg|faceres"][:, ::-1].copy()  # the same values, scrambled
    np.savez(x86_run / "c.npz", **arrays)
    r = check.compare(x86_run / "a.json", x86_run / "c.json")
    assert not r["passed"]
    text = "\n".join(r["problems"])
    assert "astronaut.png: 1 faces on x86, 0 on arm64" in text and "model nanodet: not loaded on arm64" in text
    assert "embedder faceres: cosine" in text


@pytest.mark.skipif(
    os.environ.get("EDGEKIT_ARM64_CHECK") != "1",
    reason="the emulated arm64 run takes ~2 min: set EDGEKIT_ARM64_CHECK=1 (or run make arm64-check)",
)
def test_device_side_on_emulated_arm64(zoo):
    r = subprocess.run(
        [sys.executable, str(SCRIPTS / "check.py"), "--models", str(zoo)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    result = json.loads(r.stdout)
    assert result["models_loaded_on_arm64"].split()[0] == result["models_loaded_on_arm64"].split()[-1]
    assert min(result["embedding_cosine_min"].values()) >= 0.99
