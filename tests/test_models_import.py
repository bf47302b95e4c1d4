"""`edgekit models import`: what it learns from real third-party files, and the one-line refusals for what it cannot
run or cannot learn."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from converters.importer import Options, import_model
from edge.card import load_card, sha256_file
from edge.errors import EdgekitError
from tests.conftest import ROOT


def _cli(*args, env_models):
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEKIT_MODELS": str(env_models)}
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "models", "import", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_quantised_file_is_kept_byte_for_byte(shared_data, tmp_path):
    src = shared_data / "models/sku110k_yolov8n/best_full_integer_quant.tflite"
    r = import_model(src, tmp_path, Options(name="sku"))
    assert sha256_file(tmp_path / "sku.tflite") == sha256_file(src) == r.card.sha256
    card = load_card(r.card_path)
    assert card.quantization == {
        "kind": "full integer (int8 I/O)",
        "requantised": False,
        "note": "imported as is: no second quantisation",
    }
    assert card.inputs[0].dtype == "int8" and card.target == "cpu"
    assert card.partitions["partitions"] >= 1 and card.partitions["delegated_ops"] > 200


def test_cli_prints_what_it_learnt(shared_data, tmp_path):
    p = _cli(shared_data / "models/ssd_mobilenet_v1_coco_quant/detect.tflite", "--name", "ssd_v1", env_models=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "ssd_v1: ssd detector, 90 classes, input 300x300 uint8" in p.stdout
    assert "at most 10 detections per call" in p.stdout  # the graph's own cap, said out loud
    card = json.loads((tmp_path / "ssd_v1.card.json").read_text())
    assert card["preprocess"]["mean"] == [128.0] * 3 and card["preprocess"]["std"] == [128.0] * 3  # raw uint8 pixels
    assert card["source"]["labels_from"].endswith("labelmap.txt")


@pytest.mark.parametrize(
    "rel",
    [
        "yolov8n_coco/yolov8n_full_integer_quant_edgetpu.tflite",
        "coral_ssd_mobilenet_v2_edgetpu/ssd_mobilenet_v2_coco_quant_postprocess_segment_0_of_2_edgetpu.tflite",
    ],
)
def test_edge_tpu_file_is_refused_in_one_line_without_the_delegate(shared_data, tmp_path, rel):
    p = _cli(shared_data / "models" / rel, env_models=tmp_path)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "edgetpu-custom-op" in lines[0] and "libedgetpu.so.1" in lines[0], p.stderr
    assert not list(tmp_path.glob("*.card.json"))


def test_bare_graph_asks_for_the_decoder_by_name(shared_data, tmp_path):
    with pytest.raises(EdgekitError, match="--decoder yolo"):
        import_model(shared_data / "models/mobilefacenet_insightface/mobilefacenet.tflite", tmp_path)


def test_ssd_without_a_label_map_asks_for_labels(shared_data, tmp_path):
    lone = tmp_path / "src" / "detect.tflite"
    lone.parent.mkdir()
    shutil.copy(shared_data / "models/ssd_mobilenet_v1_coco_quant/detect.tflite", lone)
    with pytest.raises(EdgekitError, match="--labels FILE"):
        import_model(lone, tmp_path / "out")
    labels = tmp_path / "src" / "mine.txt"
    labels.write_text("\n".join(f"{i} thing{i}" for i in range(3)) + "\n")  # ids 0..2, the rest unused
    card = import_model(lone, tmp_path / "out", Options(labels=labels)).card
    assert card.labels[:3] == ["thing0", "thing1", "thing2"] and len(card.labels) == 90
    assert card.decoder.params["skip_ids"] == list(range(3, 90))


def test_coral_label_file_with_n_a_gaps_lines_up(shared_data, tmp_path):
    src = shared_data / "models/ssd_mobilenet_v1_coco_quant/detect.tflite"
    coral = shared_data / "models/coral_ssd_mobilenet_v2_edgetpu/coco_labels.txt"
    card = import_model(src, tmp_path, Options(labels=coral)).card
    tf = import_model(src, tmp_path, Options(name="tf")).card  # labelmap.txt with its background line
    assert card.labels == tf.labels and card.labels[11] == "???" and card.labels[12] == "stop sign"


def test_ultralytics_segment_export_is_refused(shared_data, tmp_path):
    src = tmp_path / "seg" / "best_full_integer_quant.tflite"
    src.parent.mkdir()
    shutil.copy(shared_data / "models/sku110k_yolov8n/best_full_integer_quant.tflite", src)
    (src.parent / "metadata.yaml").write_text("task: segment\nimgsz: [640, 640]\nnames: {0: object}\n")
    with pytest.raises(EdgekitError, match="'segment' export"):
        import_model(src, tmp_path / "out")


def test_wrong_class_count_in_metadata_is_named(shared_data, tmp_path):
    src = tmp_path / "m" / "best_full_integer_quant.tflite"
    src.parent.mkdir()
    shutil.copy(shared_data / "models/sku110k_yolov8n/best_full_integer_quant.tflite", src)
    (src.parent / "metadata.yaml").write_text("task: detect\nimgsz: [640, 640]\nnames: {0: a, 1: b}\n")
    with pytest.raises(EdgekitError, match=r"no axis of 4 \+ 2 classes"):
        import_model(src, tmp_path / "out")


def test_two_stage_detector_is_refused(tmp_path):
    """A Faster R-CNN's second stage crops proposals (CropAndResize): as TFLite it needs TF select ops, and no INT8
    accelerator edgekit targets runs it. A tiny real graph with that op stands in for one."""
    tf = pytest.importorskip("tensorflow")

    class TwoStage(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 32, 32, 3], tf.float32)])
        def __call__(self, x):
            boxes = tf.constant([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]])
            crops = tf.image.crop_and_resize(x, boxes, tf.zeros([2], tf.int32), [7, 7])
            return tf.reduce_mean(crops, [1, 2])

    m = TwoStage()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([m.__call__.get_concrete_function()], m)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    path = tmp_path / "faster_rcnn.tflite"
    path.write_bytes(conv.convert())
    with pytest.raises(EdgekitError, match="two-stage detector"):
        import_model(path, tmp_path / "out")


def test_not_a_tflite_file(tmp_path):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"<html>not found</html>")
    with pytest.raises(EdgekitError, match="not a TFLite flatbuffer"):
        import_model(bad, tmp_path / "out")
