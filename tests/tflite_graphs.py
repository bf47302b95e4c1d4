"""Small real TFLite graphs built with TensorFlow for the decoder tests (the workstation has TensorFlow; a device does
not, so tests that use these skip without it). Each graph's output has exactly the layout of the family it stands for,
with values the test chose, and goes through the real interpreter, card loader and preprocessing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.card import sha256_file


def _convert(module, fn, custom_ops: bool = False) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], module)
    conv.allow_custom_ops = custom_ops
    return conv.convert()


def output_names(tflite: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=tflite)
    return [d["name"] for d in sorted(it.get_output_details(), key=lambda d: d["name"])]


def write_card(
    folder: Path,
    name: str,
    tflite: bytes,
    *,
    task: str,
    decoder: dict,
    labels: list[str],
    outputs: list[str],
    output_tensors: list[str],
    size: tuple[int, int],
    resize: str = "stretch",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / f"{name}.tflite"
    model.write_bytes(tflite)
    card = {
        "name": name,
        "task": task,
        "target": "float",
        "tflite": model.name,
        "sha256": sha256_file(model),
        "preprocess": {
            "width": size[0],
            "height": size[1],
            "layout": "NHWC",
            "color": "RGB",
            "resize": resize,
            "mean": [0, 0, 0],
            "std": [255, 255, 255],
        },
        "decoder": decoder,
        "labels": labels,
        "outputs": outputs,
        "output_tensors": [{"name": n, "shape": [], "dtype": "float32"} for n in output_tensors],
    }
    path = folder / f"{name}.card.json"
    path.write_text(json.dumps(card))
    return path


def yolo_graph(rows: np.ndarray, size: int = 64, transpose: bool = False) -> bytes:
    """Input [1, size, size, 3]; output the given (4 + classes, N) rows as [1, 4 + classes, N] ([1, N, 4 + classes]
    if transpose), plus 0 x the input's mean so the graph really reads its input."""
    import tensorflow as tf

    const = (rows.T if transpose else rows)[None].astype(np.float32)

    class Yolo(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
        def f(self, x):
            return tf.constant(const) + 0.0 * tf.reduce_mean(x)

    m = Yolo()
    return _convert(m, m.f)


def ssd_graph(
    class_logits: np.ndarray,
    anchors: np.ndarray,
    size: int = 32,
    max_detections: int = 10,
    score_threshold: float = 0.1,
    iou: float = 0.5,
) -> bytes:
    """A graph ending in the real TFLite_Detection_PostProcess custom op (fused by the converter from a composite
    function, the way TF's object detection export makes it). Box encodings are zero, so each detection's box is its
    anchor (ycentre, xcentre, h, w normalised). class_logits: (anchors, 1 + classes), column 0 the background."""
    import tensorflow as tf

    num_classes = class_logits.shape[1] - 1
    attrs = {
        "max_detections": f"i: {max_detections}",
        "max_classes_per_detection": "i: 1",
        "detections_per_class": f"i: {max_detections}",
        "use_regular_nms": "b: false",
        "nms_score_threshold": f"f: {score_threshold:f}",
        "nms_iou_threshold": f"f: {iou:f}",
        "y_scale": "f: 10.0",
        "x_scale": "f: 10.0",
        "h_scale": "f: 5.0",
        "w_scale": "f: 5.0",
        "num_classes": f"i: {num_classes}",
    }
    spec = " ".join(
        ['name: "TFLite_Detection_PostProcess"'] + [f'attr {{ key: "{k}" value {{ {v} }} }}' for k, v in attrs.items()]
    )

    @tf.function(experimental_implements=spec)
    def post_process(box_encodings, class_predictions, anchor_boxes):
        z = tf.constant(0.0)  # body unused: the converter replaces the call by the custom op
        return z, z, z, z

    logits = class_logits[None].astype(np.float32)
    anchors = anchors.astype(np.float32)

    class Ssd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
        def f(self, x):
            m = 0.0 * tf.reduce_mean(x)
            return post_process(
                tf.zeros([1, len(anchors), 4]) + m, tf.sigmoid(tf.constant(logits) + m), tf.constant(anchors)
            )

    m = Ssd()
    return _convert(m, m.f, custom_ops=True)


def colour_classifier_graph(size: int = 16, softmax_in_graph: bool = False) -> bytes:
    """A real (if tiny) classifier: logits = 8 x (mean R, mean G, mean B) - 4 of the RGB 0..1 input, so a red picture is
    'red' with high confidence. Optionally ends in softmax (then the card says activation: none)."""
    import tensorflow as tf

    class Colour(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
        def f(self, x):
            logits = 8.0 * tf.reduce_mean(x, axis=[1, 2]) - 4.0
            return tf.nn.softmax(logits) if softmax_in_graph else logits

    m = Colour()
    return _convert(m, m.f)


def binary_head_graph(size: int = 16) -> bytes:
    """One sigmoid output [1, 1] = p('red' rather than 'blue'), as binary heads (FaceRes gender, mask/no mask) ship."""
    import tensorflow as tf

    class Binary(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
        def f(self, x):
            m = tf.reduce_mean(x, axis=[1, 2])
            return tf.sigmoid(8.0 * (m[:, 0:1] - m[:, 2:3]))

    m = Binary()
    return _convert(m, m.f)
