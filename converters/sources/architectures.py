"""Networks whose weights ship without a graph (TF.js weights-only manifests), rebuilt as TF graphs op for op.

`faceapi_face_recognition`: face-api.js' FaceRecognitionNet, the port of dlib's ResNet-34 face descriptor
(dlib_face_recognition_resnet_model_v1: 150x150 RGB, (x - mean) / 256 done by the card's preprocess, 128-d output).
Each conv layer is conv + bias, then a per-channel scale (x * w + b, dlib's affine layer); a down block's shortcut is a
2x2 average pool, zero-padded on channels (and the residual branch zero-padded on rows/columns where the valid
stride-2 convolution comes out one short), as face-api's residualLayer does."""

from __future__ import annotations

from edge.errors import EdgekitError

FACEAPI_RESNET_BLOCKS = [
    "conv32_1",
    "conv32_2",
    "conv32_3",
    "conv64_down",
    "conv64_1",
    "conv64_2",
    "conv64_3",
    "conv128_down",
    "conv128_1",
    "conv128_2",
    "conv256_down",
    "conv256_1",
    "conv256_2",
    "conv256_down_out",
]


def _faceapi_face_recognition(tf, w: dict):
    def layer(x, name, stride, relu):
        y = tf.nn.conv2d(x, w[f"{name}/conv/filters"], stride, "VALID" if stride == 2 else "SAME")
        y = (y + w[f"{name}/conv/bias"]) * w[f"{name}/scale/weights"] + w[f"{name}/scale/biases"]
        return tf.nn.relu(y) if relu else y

    x = tf.compat.v1.placeholder(tf.float32, [1, 150, 150, 3], name="input")
    out = layer(x, "conv32_down", 2, True)
    out = tf.nn.max_pool2d(out, 3, 2, "VALID")
    for block in FACEAPI_RESNET_BLOCKS:
        if block.endswith(("_down", "_down_out")):
            y = layer(layer(out, f"{block}/conv1", 2, True), f"{block}/conv2", 1, False)
            pooled = tf.nn.avg_pool2d(out, 2, 2, "VALID")
            dh, dw = pooled.shape[1] - y.shape[1], pooled.shape[2] - y.shape[2]
            if dh or dw:
                y = tf.pad(y, [[0, 0], [0, dh], [0, dw], [0, 0]])
            dc = y.shape[3] - pooled.shape[3]
            if dc:
                pooled = tf.pad(pooled, [[0, 0], [0, 0], [0, 0], [0, dc]])
            out = tf.nn.relu(y + pooled)
        else:
            y = layer(layer(out, f"{block}/conv1", 1, True), f"{block}/conv2", 1, False)
            out = tf.nn.relu(y + out)
    pooled = tf.reduce_mean(out, [1, 2])
    tf.identity(tf.matmul(pooled, w["fc"]), name="embedding")
    return "input", "embedding"


ARCHITECTURES = {"faceapi_face_recognition": _faceapi_face_recognition}


def build_graph_def(name: str, weights: dict, where: str):
    """(GraphDef with the weights as constants, input name, output name)."""
    import tensorflow as tf

    if name not in ARCHITECTURES:
        raise EdgekitError(
            f"card for {where}: architecture '{name}' is unknown", f"use one of: {', '.join(ARCHITECTURES)}"
        )
    graph = tf.Graph()
    try:
        with graph.as_default():
            inp, out = ARCHITECTURES[name](tf, weights)
    except KeyError as e:
        raise EdgekitError(
            f"{where}: weight {e} missing for architecture '{name}'", "check source.path and source.architecture"
        ) from None
    return graph.as_graph_def(), inp, out
