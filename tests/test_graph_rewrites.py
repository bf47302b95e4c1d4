"""Graph rewrites that keep INT8 graphs in one XNNPACK partition: exact against the float graph they replace;
and the weights-only TF.js reader (face-api's dlib ResNet) that rebuilds a graph from a manifest."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="converter tests need edgekit[convert]")

from converters import sources  # noqa: E402
from converters.graph_rewrite import avgpool_to_depthwise, global_avgpool_to_mean  # noqa: E402
from converters.source_card import load_source_card  # noqa: E402
from converters.sources.tfjs_weights import read_weights  # noqa: E402
from converters.tflite_surgery import op_names, read_model  # noqa: E402
from converters.zoo import CARDS_DIR, fetch_source  # noqa: E402
from edge.errors import EdgekitError  # noqa: E402


def _pools_graph():
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 35, 35, 8], name="x")
        a = tf.nn.avg_pool2d(x, 2, 2, "VALID")  # face-api's shortcut pool: 35 -> 17, last row/column dropped
        b = tf.nn.avg_pool2d(x, 3, 2, "VALID")  # overlapping windows
        c = tf.nn.avg_pool2d(x, 3, 1, "SAME")  # border cells average fewer values: left alone
        tf.identity(tf.concat([a, b[:, :17, :17]], 3), name="ab")
        tf.identity(c, name="c")
    return g.as_graph_def()


def _run(graph_def, x):
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=g) as s:
        return s.run(["ab:0", "c:0"], {"x:0": x})


def test_avgpool_to_depthwise_is_exact_and_leaves_same_padding_alone():
    x = np.random.default_rng(0).normal(0, 3, (1, 35, 35, 8)).astype(np.float32)
    before = _run(_pools_graph(), x)
    rewritten, count = avgpool_to_depthwise(global_avgpool_to_mean(_pools_graph())[0])
    assert count == 2
    assert sorted(n.op for n in rewritten.node if n.op in ("AvgPool", "DepthwiseConv2dNative")) == [
        "AvgPool",
        "DepthwiseConv2dNative",
        "DepthwiseConv2dNative",
    ]
    after = _run(rewritten, x)
    assert np.array_equal(after[0][..., :8], before[0][..., :8])  # 2x2: quarters are exact in float
    assert np.abs(after[0] - before[0]).max() < 1e-5  # 3x3: 1/9 rounds
    assert np.array_equal(after[1], before[1])


@pytest.fixture(scope="module")
def dlib_card():
    return load_source_card(CARDS_DIR / "dlib_resnet.yaml")


def test_weights_manifest_is_dequantised_as_tfjs_does(dlib_card):
    manifest = fetch_source(dlib_card)
    w = read_weights(manifest)
    spec = json.loads(manifest.read_text())[0]["weights"]
    assert len(w) == len(spec) == 117 and w["fc"].shape == (256, 128)
    q = spec[0]["quantization"]  # conv32_down/conv/filters, uint8
    first = np.frombuffer((manifest.parent / "face_recognition_model.bin").read_bytes(), np.uint8, 7 * 7 * 3 * 32)
    expected = first.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
    assert np.array_equal(w["conv32_down/conv/filters"].reshape(-1), expected)


def test_rebuilt_dlib_resnet_is_one_graph_without_average_pools(dlib_card):
    fm = sources.load(dlib_card.source, fetch_source(dlib_card))
    ops = op_names(read_model(fm.tflite, "dlib_resnet"))
    assert "AVERAGE_POOL_2D" not in ops and ops.count("DEPTHWISE_CONV_2D") == 4
    assert fm.notes["avgpool_to_depthwise"] == 4
    from edge.runtime.interpreter import Interpreter

    it = Interpreter(model_content=fm.tflite)
    it.allocate_tensors()
    (out,) = it.get_output_details()
    assert list(out["shape"]) == [1, 128]


def test_weights_manifest_errors_are_named(tmp_path, dlib_card):
    manifest = fetch_source(dlib_card)
    shutil.copy(manifest, tmp_path / "m.json")
    with pytest.raises(EdgekitError, match="weight shard face_recognition_model.bin is missing"):
        read_weights(tmp_path / "m.json")
    (tmp_path / "face_recognition_model.bin").write_bytes(b"\0" * 100)
    with pytest.raises(EdgekitError, match="shards hold 100 bytes"):
        read_weights(tmp_path / "m.json")
    with pytest.raises(EdgekitError, match="architecture 'resnet_from_nowhere' is unknown"):
        sources.load(dlib_card.source.model_copy(update={"architecture": "resnet_from_nowhere"}), manifest)


@pytest.fixture(scope="module")
def mobilefacenet(shared_data):
    path = shared_data / "models" / "mobilefacenet_insightface" / "mobilefacenet.tflite"
    if not path.is_file():
        pytest.skip(f"needs {path}")
    return path


def test_mxnet_prelu_becomes_one_prelu_op_exactly(mobilefacenet, media):
    import cv2

    from converters.tflite_surgery import prepare_for_quantizer
    from edge.images import read_image
    from edge.runtime.interpreter import Interpreter

    data = mobilefacenet.read_bytes()
    fixed, notes = prepare_for_quantizer(data, str(mobilefacenet))
    before, after = op_names(read_model(data)), op_names(read_model(fixed))
    assert notes["prelu_fused"] == 33 and before.count("MAXIMUM") == 33
    assert after.count("PRELU") == 33 and "MAXIMUM" not in after and "MINIMUM" not in after
    face = cv2.resize(read_image(media("obama"))[100:400, 300:600], (112, 112))[None, ..., ::-1].astype(np.float32)
    outs = []
    for model in (data, fixed):
        it = Interpreter(model_content=model)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], face)
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
    assert np.array_equal(outs[0], outs[1])


def _tfjs_prelu_graph(spelling="keras"):
    """conv -> PReLU spelt as TF.js exports it. keras: Relu(x) + alpha * (x - Abs(x)) * 0.5; folded: the 0.5 folded
    into alpha, (x - Abs(x)) * alpha' (human-models' MobileFaceNet); after_relu: the same on a ReLU's output, which is
    the ReLU itself (x - |x| = 0 for x >= 0): human-models' MobileFaceNet has 16 of those after its depthwise convs."""
    alpha = np.linspace(0.1, 0.3, 8).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 16, 16, 3], name="x")
        y = tf.nn.conv2d(x, np.random.default_rng(0).normal(0, 1, (3, 3, 3, 8)).astype(np.float32), 1, "SAME")
        if spelling == "keras":
            z = tf.nn.relu(y) + tf.multiply(tf.multiply(alpha, tf.subtract(y, tf.abs(y))), 0.5)
        elif spelling == "folded":
            z = tf.add(tf.multiply(tf.subtract(y, tf.abs(y)), alpha / 2), tf.nn.relu(y))
        else:
            r = tf.nn.relu(y)
            z = tf.add(r, tf.multiply(tf.subtract(r, tf.abs(r)), alpha / 2))
        tf.identity(tf.nn.conv2d(z, np.full((1, 1, 8, 4), 0.1, np.float32), 1, "SAME"), name="out")
    return g.as_graph_def()


@pytest.mark.parametrize("spelling", ["keras", "folded", "after_relu"])
def test_tf_prelu_becomes_one_prelu_op_and_quantises_in_one_partition(spelling):
    from converters.quantize import quantize
    from converters.sources.tf_graph import from_graph_def
    from edge.runtime.interpreter import Interpreter
    from edge.runtime.report import graph_report

    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (1, 16, 16, 3)).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(_tfjs_prelu_graph(spelling), name="")
    with tf.compat.v1.Session(graph=g) as s:
        want = s.run("out:0", {"x:0": x})
    fm = from_graph_def(_tfjs_prelu_graph(spelling), ["x"], ["out"], "tfjs-prelu")
    ops = op_names(read_model(fm.tflite))
    assert not {"ABS", "SUB", "MAXIMUM", "MINIMUM", "RELU"} & set(ops), ops  # a ReLU goes into the conv
    assert ops.count("PRELU") == (0 if spelling == "after_relu" else 1), ops
    it = Interpreter(model_content=fm.tflite)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    assert np.abs(it.get_tensor(it.get_output_details()[0]["index"]) - want).max() < 1e-5
    assert fm.tf_converter is None  # INT8 through ai-edge-quantizer, from the fused float model
    int8, info = quantize(fm, [rng.normal(0, 1, (1, 16, 16, 3)).astype(np.float32) for _ in range(8)])
    q = Interpreter(model_content=int8)
    q.allocate_tensors()
    assert info["engine"] == "ai-edge-quantizer" and graph_report(q).partitions == 1
