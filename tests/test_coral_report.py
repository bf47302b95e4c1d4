"""The Edge TPU op-mapping report against the real edgetpu_compiler 16 output for YOLOv8n (log + compiled model in
../shared/data/models/yolov8n_coco/), and its rules on small real graphs."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from converters.targets import coral, edgetpu_map, edgetpu_ops
from converters.targets.edgetpu_report import parse_log, report
from converters.tflite_surgery import read_model, write_model
from edge.cli import cli
from edge.errors import EdgekitError


@pytest.fixture(scope="module")
def yolo(shared_data):
    d = shared_data / "models" / "yolov8n_coco"
    return (
        d / "yolov8n_full_integer_quant.tflite",
        d / "yolov8n_full_integer_quant_edgetpu.log",
        d / "yolov8n_full_integer_quant_edgetpu.tflite",
    )


def test_report_matches_the_real_compiler_log_op_by_op(yolo):
    model, log, compiled = yolo
    r = CliRunner().invoke(
        cli, ["models", "coral-report", str(model), "--compiler-log", str(log), "--compiled", str(compiled)]
    )
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[-1] == "differences from the compiler log: 0"
    assert "ops on the Edge TPU: 230 of 254; on the CPU: 24" in r.output
    assert "0 ops placed differently" in r.output  # instance by instance, against the compiled model
    assert "graph cut at op #215 TRANSPOSE" in r.output and "graph cut at op #232 TRANSPOSE" in r.output


def test_ops_after_a_cut_that_do_not_depend_on_it_stay_on_the_tpu(yolo):
    """The former report cut at the first unmappable op in file order and sent every later op to the CPU; the real
    compiler keeps the independent 80x80 head branch (ops 217-231, after the cut at 215) on the TPU."""
    model = read_model(yolo[0].read_bytes())
    placements = edgetpu_map.place(model)
    assert not placements[215].on_tpu
    assert all(p.on_tpu for p in placements[217:232])
    assert placements[238].op == "SOFTMAX" and placements[238].status == edgetpu_ops.SUBGRAPH


def test_the_compiled_twin_is_recognised_by_its_custom_op(yolo):
    lines, n = report(yolo[2])
    assert n == 0 and "already compiled by edgetpu_compiler (1 edgetpu-custom-op, 24 ops on the CPU" in lines[0]


def test_a_changed_log_is_counted_as_differences(yolo, tmp_path):
    text = yolo[1].read_text().replace("CONV_2D                        63", "CONV_2D                        62")
    (tmp_path / "x.log").write_text(text)
    lines, n = report(yolo[0], tmp_path / "x.log")
    assert n == 1 and lines[-1] == "differences from the compiler log: 1"
    assert "CONV_2D 'Mapped to Edge TPU': report 63, compiler log 62" in lines


def test_a_file_that_is_no_compiler_log_is_one_clear_error(tmp_path):
    (tmp_path / "x.log").write_text("hello\n")
    with pytest.raises(EdgekitError, match="x.log: no 'Operator Count Status' table"):
        parse_log((tmp_path / "x.log").read_text(), str(tmp_path / "x.log"))


def _int8(fn, shape):
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: (
        [np.random.default_rng(i).uniform(-1, 1, shape).astype(np.float32)] for i in range(8)
    )
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.uint8
    return conv.convert()


def test_a_conv_version_compiler_16_refuses_is_named(tmp_path):
    import tensorflow as tf

    w = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 3, 8)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 16, 16, 3])])
    def f(x):
        return tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME"))

    model = read_model(_int8(f, (1, 16, 16, 3)))
    assert coral.problems({"coral": coral.check(write_model(model))}) == []
    for code in model.operatorCodes:
        if code.builtinCode == 3:  # CONV_2D, as a newer converter marks grouped convolutions
            code.version = 6
    r = coral.check(write_model(model))
    assert r["op_versions_too_new"]["CONV_2D"]["version"] == 6
    assert any("refuses (the whole model)" in p for p in coral.problems({"coral": r}))


def test_a_file_that_is_no_tflite_is_one_line_naming_it(tmp_path, capsys):
    from edge.cli import main

    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(SystemExit) as e:
        main(["models", "coral-report", str(bad)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "model.tflite: not a TFLite flatbuffer" in err and "Traceback" not in err


def test_a_model_with_shapeless_tensors_is_reported(shared_data):
    """MobileFaceNet uint8 (SHAPE/PACK ops leave tensors with no shape): the report crashed on them."""
    lines, _ = report(shared_data / "models" / "mobilefacenet_insightface" / "mobilefacenet_uint8.tflite")
    assert any(line.startswith("SHAPE ") and "Operation not supported" in line for line in lines)


def test_the_compilers_output_is_named_in_the_card_for_the_device(zoo, tmp_path, monkeypatch):
    """With edgetpu_compiler on PATH the coral target names its output (NAME_edgetpu.tflite, with sha256) in what
    the card records, so the device's Coral accelerator loads the compiled file, not the plain INT8 one. The compiler
    here is a stand-in script (the real one cannot be installed on this machine) that writes what edgetpu_compiler
    16 writes: the model beside its input's name and the two statistics lines."""
    import os
    import shutil

    from edge.card import sha256_file

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    compiler = bin_dir / "edgetpu_compiler"
    compiler.write_text(
        '#!/bin/sh\n# edgetpu_compiler -s -o OUT MODEL\nout="$3"; model="$4"; base=$(basename "$model" .tflite)\n'
        'cp "$model" "$out/${base}_edgetpu.tflite"\n'
        'echo "Number of operations that will run on Edge TPU: 70"\n'
        'echo "Number of operations that will run on CPU: 7"\n'
    )
    compiler.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    stage = tmp_path / "stage"
    stage.mkdir()
    int8 = stage / "blazeface_short.tflite"
    shutil.copy(zoo / "blazeface_short.tflite", int8)
    extra = coral.finalize(int8, None, None, stage, "blazeface_short")
    assert extra["coral"]["share_on_tpu"] == round(70 / 77, 4)
    compiled = stage / "blazeface_short_edgetpu.tflite"
    assert extra["compiled"] == {"edgetpu": {"tflite": compiled.name, "sha256": sha256_file(compiled)}}
