"""Converters on real models and real images (workstation side: needs edgekit[convert])."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

pytest.importorskip("tensorflow", reason="converter tests need edgekit[convert]")

from converters import sources  # noqa: E402
from converters.calibration import load_samples  # noqa: E402
from converters.convert import GateFailed, convert  # noqa: E402
from converters.quantize import quantize  # noqa: E402
from converters.source_card import load_source_card  # noqa: E402
from converters.targets import coral, jetson  # noqa: E402
from converters.tflite_surgery import op_names, read_model  # noqa: E402
from converters.zoo import CARDS_DIR, fetch_source  # noqa: E402
from edge.errors import EdgekitError  # noqa: E402
from edge.preprocess import preprocess  # noqa: E402
from edge.runtime.interpreter import Interpreter  # noqa: E402
from edge.runtime.report import graph_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_MEDIA = ["media:carphone", "media:bikes", "media:obama", "media:biden", "media:astronaut"]


def card(name: str, **changes):
    c = load_source_card(CARDS_DIR / f"{name}.yaml")
    return c.model_copy(update=changes)


def run_float(tflite: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    it = Interpreter(model_content=tflite)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}


@pytest.fixture(scope="module")
def blazeface():
    c = card("blazeface_short")
    return c, sources.load(c.source, fetch_source(c))


@pytest.fixture(scope="module")
def face_frames():
    samples, _ = load_samples(PACKAGE_MEDIA, video_stride=4)
    return samples


def test_mediapipe_tflite_is_prepared_without_changing_its_outputs(blazeface, face_frames):
    c, fm = blazeface
    prepared = fm.notes["prepared"]
    model = read_model(prepared)
    assert "DEQUANTIZE" not in op_names(model) and "RELU" not in op_names(model)
    assert fm.notes["fp16_weights_folded"] == 74 and fm.notes["activations_fused"] == 17
    assert model.signatureDefs and model.signatureDefs[0].signatureKey == b"serving_default"
    x, _ = preprocess(face_frames[0].image, c.preprocess)
    a, b = run_float(fm.tflite, x), run_float(prepared, x)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=2e-3)


def test_blazeface_int8_is_one_partition_and_keeps_face_logits(blazeface, face_frames):
    c, fm = blazeface
    xs = [preprocess(s.image, c.preprocess)[0] for s in face_frames]
    int8, info = quantize(fm, xs, "int8", true_range_outputs=True, output_ranges=c.calibration.output_ranges)
    it = Interpreter(model_content=int8)
    it.allocate_tensors()
    assert graph_report(it).partitions == 1
    out = {d["name"]: d for d in it.get_output_details()}["classificators"]
    scale, zero = out["quantization"]
    lo, hi = info["true_range_outputs"]["classificators"]
    # The moving-average range clipped positive logits (no face above 0.5); the true range must reach the face logits,
    # and the floor from the card keeps a fine step around the 0.5 threshold.
    assert hi > 0 and (127 - zero) * scale >= hi * 0.99
    assert lo == -20.0 and scale < 0.1


def test_coral_target_holds_no_float_tensor(blazeface, face_frames):
    c, fm = blazeface
    xs = [preprocess(s.image, c.preprocess)[0] for s in face_frames]
    int8, _ = quantize(fm, xs, coral.IO_DTYPE)
    report = coral.check(int8)
    assert report["full_integer"], report["float_tensors"]
    assert report["static_shapes"] and report["batch"] == [1]
    assert report["ops_unsupported"] == [] and report["ops_on_cpu_estimate"] == 0


def test_coral_report_names_ops_that_would_fall_back(tmp_path):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3])])
    def f(x):
        return tf.math.cumsum(tf.nn.relu(x), axis=1)  # CUMSUM: not an Edge TPU op

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([np.full((1, 8, 8, 3), v, np.float32)] for v in np.linspace(-1, 1, 8))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    report = coral.check(conv.convert())
    assert "CUMSUM" in report["ops_unsupported"]
    assert report["first_unsupported_op_index"] is not None and report["ops_on_cpu_estimate"] >= 1


def _faceres(tmp_path, calib_dir: Path, **gate):
    c = card("faceres")
    c = c.model_copy(
        update={
            "detector": None,
            "gate": c.gate.model_copy(update={"pairs": [], "identities": [], **gate}),
            "calibration": c.calibration.model_copy(update={"crop_faces": [], "min_images": 20}),
        }
    )
    return c


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory, face_frames):
    """Face crops (centre crops of package-shipped face footage/photos; real pixels, no detector needed)."""
    d = tmp_path_factory.mktemp("faces")
    for i, s in enumerate(face_frames):
        h, w = s.image.shape[:2]
        side = min(h, w)
        crop = s.image[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
        cv2.imwrite(str(d / f"{i:03d}.png"), crop)
    return d


def test_gate_refuses_a_miscalibrated_model_and_promotes_nothing(tmp_path, faces_dir):
    dark = tmp_path / "dark"
    dark.mkdir()
    for p in sorted(faces_dir.iterdir()):
        img = cv2.imread(str(p))
        cv2.imwrite(str(dark / p.name), (img // 40).astype(np.uint8))  # real pictures, 40x too dark: wrong ranges
    c = _faceres(tmp_path, dark)
    src = fetch_source(c)
    out = tmp_path / "out"
    with pytest.raises(GateFailed, match="accuracy gate refused"):
        convert(src, c, "cpu", out, calib=[str(dark)], force=True)
    # nothing promoted, no staging left: the verdict, and the refused builds in their own folder to inspect
    assert sorted(p.name for p in out.iterdir()) == ["faceres.rejected", "faceres.rejected.json"]
    kept = out / "faceres.rejected"
    assert sorted(p.name for p in kept.iterdir()) == [
        "faceres.card.json",
        "faceres.float.card.json",
        "faceres.float.tflite",
        "faceres.tflite",
    ]
    from edge.runtime import CardModel

    refused = CardModel(kept / "faceres.float.card.json")  # a valid float model and card
    assert refused.card.target == "float" and refused.card.gate["passed"] is False


def test_cli_convert_exits_non_zero_when_the_gate_fails(tmp_path, faces_dir):
    c = _faceres(tmp_path, faces_dir, min_cosine=0.9999)
    card_path = tmp_path / "faceres.yaml"
    card_path.write_text(yaml.safe_dump(c.model_dump()))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "convert",
            str(fetch_source(c)),
            "--card",
            str(card_path),
            "--calib",
            str(faces_dir),
            "--out",
            str(tmp_path / "o"),
            "--force",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0
    assert "accuracy gate refused" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o" / "faceres.tflite").exists()


def test_jetson_target_writes_onnx_cache_and_script(tmp_path, faces_dir):
    pytest.importorskip("tf2onnx")
    import onnxruntime as ort

    c = _faceres(tmp_path, faces_dir)
    r = convert(fetch_source(c), c, "jetson", tmp_path, calib=[str(faces_dir)], force=True)
    j = yaml.safe_load((tmp_path / "faceres.card.json").read_text())["quantization"]["jetson"]
    onnx_path, cache = tmp_path / j["onnx"], (tmp_path / j["calibration_cache"]).read_text().splitlines()
    assert cache[0].startswith("TRT-") and len(cache) == j["cache_tensors"] + 1
    _, algorithm, scales = jetson.read_cache("\n".join(cache))  # TensorRT's documented text layout
    import onnx

    onnx_tensors = {o for n in onnx.load(str(onnx_path)).graph.node for o in n.output} | {sess_input(onnx_path)}
    assert algorithm == "EntropyCalibration2" and set(scales) <= onnx_tensors and len(scales) == j["cache_tensors"]
    assert "--int8" in (tmp_path / j["build_script"]).read_text()
    # The ONNX export computes what the float TFLite computes.
    img = cv2.imread(str(next(faces_dir.iterdir())))
    x, _ = preprocess(img, c.preprocess)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    y_onnx = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    y_tfl = list(run_float((tmp_path / "faceres.float.tflite").read_bytes(), x).values())[0]
    np.testing.assert_allclose(y_onnx.reshape(-1), y_tfl.reshape(-1), rtol=1e-3, atol=1e-3)
    assert r.metrics["passed"]


def sess_input(onnx_path) -> str:
    import onnxruntime as ort

    return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name


# ---- bad input: one clear error naming the file and the fix ----


def test_truncated_frozen_graph(tmp_path):
    c = card("facenet")
    bad = tmp_path / "graph.pb"
    bad.write_bytes(fetch_source(c).read_bytes()[:100000])
    with pytest.raises(EdgekitError, match="graph.pb"):
        sources.load(c.source, bad)


def test_wrong_tensor_names_are_listed(tmp_path):
    c = card("facenet")
    src = c.source.model_copy(update={"outputs": {"embedding": "no_such_tensor"}})
    with pytest.raises(EdgekitError, match=r"output tensor\(s\) \['no_such_tensor'\] not in the graph.*source.outputs"):
        sources.load(src, fetch_source(c))


def test_corrupt_tflite_source(tmp_path):
    c = card("blazeface_short")
    bad = tmp_path / "m.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(EdgekitError, match="m.tflite: not a TFLite flatbuffer"):
        sources.load(c.source, bad)


def test_tfjs_missing_shard(tmp_path):
    c = card("faceres")
    d = tmp_path / "tfjs"
    d.mkdir()
    shutil.copy(fetch_source(c), d / "model.json")
    with pytest.raises(EdgekitError, match="weight shard faceres.bin is missing"):
        sources.load(c.source, d / "model.json")


def test_empty_and_unreadable_calibration_folders(tmp_path):
    c = _faceres(tmp_path, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EdgekitError, match="none could be read"):
        convert(fetch_source(c), c, "cpu", tmp_path / "o", calib=[str(empty)])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    (bad / "b.png").write_bytes(b"not a png")
    with pytest.raises(EdgekitError, match="none could be read"):
        convert(fetch_source(c), c, "cpu", tmp_path / "o", calib=[str(bad)])
    with pytest.raises(EdgekitError, match="not found"):
        convert(fetch_source(c), c, "cpu", tmp_path / "o", calib=[str(tmp_path / "nope")])


def test_too_few_calibration_images_refused_unless_forced(tmp_path, faces_dir):
    c = card("faceres")
    c = c.model_copy(update={"detector": None, "calibration": c.calibration.model_copy(update={"crop_faces": []})})
    with pytest.raises(EdgekitError, match=r"only \d+ usable, at least 100 needed.*--force"):
        convert(fetch_source(c), c, "cpu", tmp_path / "o", calib=[str(faces_dir)])


def test_bad_card_names_the_key(tmp_path):
    p = tmp_path / "x.yaml"
    data = yaml.safe_load((CARDS_DIR / "faceres.yaml").read_text())
    data["preprocess"]["layout"] = "NWHC"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(EdgekitError, match="key 'preprocess.layout'"):
        load_source_card(p)


def test_an_unreadable_onnx_file_is_named_before_any_engine_runs(tmp_path):
    # onnx2tf lives in its own virtualenv (converters/engine_env.py, tests/test_convert_pytorch_onnx.py); a bad file
    # is refused first, without building or starting it
    c = card("faceres")
    src = c.source.model_copy(update={"format": "onnx"})
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(EdgekitError, match="m.onnx: not a readable ONNX model"):
        sources.load(src, tmp_path / "m.onnx")


# ---- Keras and SavedModel sources, with a small model trained here on real faces ----


@pytest.fixture(scope="module")
def trained_keras(tmp_path_factory, shared_data):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    people = sorted((shared_data / "faces" / "att").glob("s0[1-5]"))
    xs, ys = [], []
    for label, person in enumerate(people):
        for f in sorted(person.glob("*.pgm")):
            xs.append(cv2.resize(cv2.imread(str(f)), (48, 48))[..., ::-1].astype(np.float32) / 255.0)
            ys.append(label)
    model = tf.keras.Sequential(
        [
            tf.keras.Input((48, 48, 3)),
            tf.keras.layers.Conv2D(8, 3, activation="relu"),
            tf.keras.layers.MaxPooling2D(),
            tf.keras.layers.Conv2D(16, 3, activation="relu"),
            tf.keras.layers.GlobalAveragePooling2D(),
            tf.keras.layers.Dense(len(people), activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.stack(xs), np.asarray(ys), epochs=30, verbose=0)
    d = tmp_path_factory.mktemp("keras")
    model.save(d / "att5.keras")
    model.export(str(d / "saved"))
    return d


def _classifier_card():
    from converters.source_card import SourceCard

    return SourceCard.model_validate(
        {
            "name": "att5",
            "task": "classifier",
            "licence": "test",
            "labels": ["s01", "s02", "s03", "s04", "s05"],
            "source": {"registry": "pypi", "package": "none", "version": "0", "path": "-", "format": "keras"},
            "preprocess": {"width": 48, "height": 48, "color": "RGB", "mean": [0, 0, 0], "std": [255, 255, 255]},
            "decoder": {"name": "classifier"},
            "calibration": {"images": ["shared:faces/att/s0[1-5]"], "min_images": 30, "held_out": 0.3},
        }
    )


@pytest.mark.parametrize("fmt,path", [("keras", "att5.keras"), ("savedmodel", "saved")])
def test_keras_and_savedmodel_sources_convert_and_pass_the_gate(trained_keras, tmp_path, fmt, path):
    c = _classifier_card()
    c = c.model_copy(update={"source": c.source.model_copy(update={"format": fmt})})
    r = convert(trained_keras / path, c, "cpu", tmp_path)
    assert r.metrics["passed"] and r.metrics["top1_agreement"] >= 0.9
    it = Interpreter(str(tmp_path / "att5.tflite"))
    it.allocate_tensors()
    assert graph_report(it).partitions == 1
