"""Coral rewrites: LEAKY_RELU -> MAXIMUM(x, a*x), HARD_SWISH -> x*RELU6(x+3)/6, on small real graphs built here (float
and INT8) and on the zoo's NanoDet (28 LEAKY_RELU), against the graphs they came from."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from converters.gate import detection_agreement
from converters.targets import coral, edgetpu_map
from converters.targets.coral_rewrites import rewrite
from converters.tflite_surgery import op_names, read_model
from edge.card import sha256_file
from edge.runtime import CardModel


def _graph(kind: str):
    """A float and an INT8 TFLite of conv -> activation, from TF's converter (which emits LEAKY_RELU/HARD_SWISH)."""
    import tensorflow as tf

    w = tf.constant(np.random.default_rng(1).normal(size=(3, 3, 3, 8)).astype(np.float32) * 0.6)

    @tf.function(input_signature=[tf.TensorSpec([1, 32, 32, 3])])
    def f(x):
        h = tf.nn.conv2d(x, w, 1, "SAME")
        return tf.nn.leaky_relu(h, alpha=0.1) if kind == "leaky" else h * tf.nn.relu6(h + 3) / 6

    def converter():
        return tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)

    calib = _inputs(8)
    conv = converter()
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x] for x in calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    return converter().convert(), conv.convert()


def _inputs(n: int) -> list[np.ndarray]:
    """Crops of a real photo (scikit-image's astronaut, via the media cache) scaled to [-2, 2], plus noise."""
    from edge.media import media

    img = cv2.imread(str(media("astronaut")))
    out = []
    for k in range(n):
        crop = cv2.resize(img[k * 40 : k * 40 + 256, k * 30 : k * 30 + 256], (32, 32), interpolation=cv2.INTER_AREA)
        out.append(crop[None].astype(np.float32) / 64.0 - 2.0)
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)

    def area(r):
        return np.prod(r[:, 2:] - r[:, :2], axis=1)

    return inter / (area(a) + area(b) - inter)


def _run(tflite: bytes, x: np.ndarray) -> tuple[np.ndarray, tuple]:
    it = Interpreter(model_content=tflite)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    if i["dtype"] != np.float32:
        s, z = i["quantization"]
        x = np.clip(np.rint(x / s + z), -128, 127).astype(i["dtype"])
    it.set_tensor(i["index"], x)
    it.invoke()
    return it.get_tensor(o["index"]), o["quantization"]


@pytest.mark.parametrize("kind, op, tolerance", [("leaky", "LEAKY_RELU", 0.0), ("hswish", "HARD_SWISH", 1e-6)])
def test_rewrite_is_exact_against_the_float_graph(kind, op, tolerance):
    flt, _ = _graph(kind)
    assert op in op_names(read_model(flt))
    new, info = rewrite(flt)
    assert op not in op_names(read_model(new)) and info["coral_rewrites"] == {op.lower(): 1}
    for x in _inputs(4):
        a, b = _run(flt, x)[0], _run(new, x)[0]
        assert np.abs(a - b).max() <= tolerance * max(1.0, np.abs(a).max()), (kind, np.abs(a - b).max())


@pytest.mark.parametrize("kind, op", [("leaky", "LEAKY_RELU"), ("hswish", "HARD_SWISH")])
def test_int8_rewrite_stays_within_one_step_and_maps_to_the_edge_tpu(kind, op):
    flt, q = _graph(kind)
    assert op in coral.check(q)["ops_unsupported"]
    new, _ = rewrite(q)
    report = coral.check(new)
    assert report["ops_unsupported"] == [] and report["ops_on_cpu_estimate"] == 0, report
    assert not [v for v in report["op_versions_too_new"].values() if v["verdict"].startswith("refused")]
    for x in _inputs(4):
        (a, (s, z)), (b, _) = _run(q, x), _run(new, x)
        f = _run(flt, x)[0]
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
        err_old, err_new = (np.abs((v.astype(np.float32) - z) * s - f).max() for v in (a, b))
        assert err_new <= err_old + s  # no worse against the float graph than one quantisation step


def test_nanodet_rewritten_for_coral_detects_the_same_objects(zoo, shared_data, tmp_path):
    for suffix in (".tflite", ".card.json"):
        shutil.copy(zoo / f"nanodet{suffix}", tmp_path / f"nanodet{suffix}")
    data = (tmp_path / "nanodet.tflite").read_bytes()
    assert op_names(read_model(data)).count("LEAKY_RELU") == 28
    new, info = rewrite(data)
    assert info["coral_rewrites"] == {"leaky_relu": 28}
    placements = edgetpu_map.place(read_model(new))
    assert "LEAKY_RELU" not in {p.op for p in placements}
    (tmp_path / "coral").mkdir()
    (tmp_path / "coral" / "nanodet.tflite").write_bytes(new)
    card = json.loads((tmp_path / "nanodet.card.json").read_text())
    card["sha256"] = sha256_file(tmp_path / "coral" / "nanodet.tflite")
    (tmp_path / "coral" / "nanodet.card.json").write_text(json.dumps(card))
    photos = [cv2.imread(str(shared_data / "shelf" / "ultralytics_assets" / n)) for n in ("bus.jpg", "zidane.jpg")]
    before, after = CardModel(tmp_path / "nanodet.card.json"), CardModel(tmp_path / "coral" / "nanodet.card.json")
    agreement = detection_agreement(before, after, [SimpleNamespace(image=f) for f in photos])
    assert agreement["float_detections"] >= 4, agreement  # people and the bus
    assert agreement["recall"] == agreement["precision"] == 1.0 and agreement["matched_iou_mean"] > 0.95, agreement
