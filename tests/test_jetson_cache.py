"""The Jetson target's TensorRT calibration cache against TensorRT's documented text layout, and its build script up to
the trtexec boundary (no TensorRT here: PyPI's tensorrt-cu12 fetches its libraries from NVIDIA's own index)."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from converters.targets import jetson
from edge.errors import EdgekitError
from edge.media import media


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    """Conv -> Relu, as an ONNX file, and real calibration tensors (crops of a real photo)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["images", "w"], ["conv_out"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["conv_out"], ["relu_out"]),
        ],
        "small",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("relu_out", TensorProto.FLOAT, [1, 4, 16, 16])],
        [numpy_helper.from_array(w, "w")],
    )
    path = tmp_path_factory.mktemp("onnx") / "small.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    img = cv2.imread(str(media("astronaut")))
    calib = [
        cv2.resize(img[k * 50 : k * 50 + 200, k * 40 : k * 40 + 200], (16, 16))
        .transpose(2, 0, 1)[None]
        .astype(np.float32)
        / 127.5
        - 1
        for k in range(6)
    ]
    return path, calib


def test_cache_follows_tensorrts_text_layout(small_onnx):
    import onnxruntime as ort

    path, calib = small_onnx
    text, info = jetson.calibration_cache(path, calib)
    tag, algorithm, scales = jetson.read_cache(text)
    assert (tag, algorithm) == ("100300", "EntropyCalibration2")  # trtexec's calibrator is an EntropyCalibrator2
    assert set(scales) == {"images", "conv_out", "relu_out"} and info["tensors"] == 3
    assert all(np.isfinite(s) and s > 0 for s in scales.values())
    # scale = amax / 127, stored as the float32's bits (big-endian hex)
    assert scales["images"] == np.float32(max(float(np.abs(x).max()) for x in calib) / 127)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    amax = max(float(sess.run(None, {"images": x})[0].max()) for x in calib)
    assert scales["relu_out"] == np.float32(amax / 127)


@pytest.mark.parametrize(
    "version, tag", [("7.2.2", "7202"), ("8.5.2", "8502"), ("8.6.1", "8601"), ("10.3.0", "100300")]
)
def test_version_tags_match_tensorrts_own(version, tag):
    """TensorRT's NV_TENSORRT_VERSION; the first three as seen in real caches' headers (TRT-7202-..., TRT-8502-...,
    TRT-8601-...)."""
    assert jetson.version_tag(version) == tag


@pytest.mark.parametrize(
    "text, where",
    [
        ("", "first line"),
        ("TRT-8601-EntropyCalibration2\nimages 3c010a14\n", "line 2"),
        ("TRT-8601-EntropyCalibration2\nimages: 3c01\n", "line 2"),
    ],
)
def test_a_malformed_cache_is_one_clear_error(text, where):
    with pytest.raises(EdgekitError, match=where):
        jetson.read_cache(text)


def test_build_script_puts_the_jetsons_tensorrt_version_in_the_header(tmp_path):
    """Runs the real script with a stand-in trtexec that prints TensorRT 8.6.2's banner and records what it gets."""
    (tmp_path / "m.calib.cache").write_text(jetson.cache_header() + "\nimages: 3c010a14\n")
    script = tmp_path / "build_trt_m.sh"
    script.write_text(jetson.BUILD_SCRIPT.format(name="m", input="images", shape="1x3x16x16"))
    fake = tmp_path / "trtexec"
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = --help ]; then echo "&&&& RUNNING TensorRT.trtexec [TensorRT v8602] # trtexec"; '
        'exit 0; fi\necho "$@" > args.txt\nfor a in "$@"; do case "$a" in --calib=*) head -n 1 "${a#--calib=}" '
        "> header.txt;; esac; done\n"
    )
    fake.chmod(0o755)
    r = subprocess.run(
        ["sh", str(script), "--verbose"],
        env={"TRTEXEC": str(fake), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "header.txt").read_text().strip() == "TRT-8602-EntropyCalibration2"
    args = (tmp_path / "args.txt").read_text()
    assert "--onnx=m.onnx --int8" in args and "--shapes=images:1x3x16x16" in args and args.strip().endswith("--verbose")
    assert (tmp_path / "m.calib.cache").read_text().startswith(jetson.cache_header())  # the shipped cache is kept
