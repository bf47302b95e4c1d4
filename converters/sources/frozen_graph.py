"""TF frozen graph (.pb) with named input/output tensors."""

from __future__ import annotations

from pathlib import Path

from converters.sources.tf_graph import from_graph_def
from edge.errors import EdgekitError


def load(source, path: Path):
    import tensorflow as tf

    if not source.inputs or not source.outputs:
        raise EdgekitError(
            f"card for {path.name}: a frozen graph needs source.inputs and source.outputs",
            "name the input and output tensors in the card",
        )
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except Exception:
        raise EdgekitError(
            f"{path}: not a TensorFlow GraphDef (corrupt or truncated .pb)", "re-download or re-export the frozen graph"
        ) from None
    if not graph_def.node:
        raise EdgekitError(f"{path}: empty or truncated GraphDef", "re-download or re-export the frozen graph")
    return from_graph_def(
        graph_def, source.inputs, list(source.outputs.values()), str(path), nchw_to_nhwc=source.nchw_to_nhwc
    )
