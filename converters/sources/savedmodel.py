"""TensorFlow SavedModel directory (signature `serving_default` unless the card names another in source.path)."""

from __future__ import annotations

from pathlib import Path

from converters.sources.keras import frozen, named_float_model
from edge.errors import EdgekitError


def load(source, path: Path):
    import tensorflow as tf

    if not (path / "saved_model.pb").is_file():
        raise EdgekitError(
            f"{path}: not a SavedModel directory (no saved_model.pb)",
            "pass the folder written by tf.saved_model.save or model.export",
        )
    loaded = tf.saved_model.load(str(path))
    sig = loaded.signatures.get("serving_default")
    if sig is None:
        raise EdgekitError(
            f"{path}: has no 'serving_default' signature (has {list(loaded.signatures)})",
            "export with a serving_default signature",
        )
    spec = list(sig.structured_input_signature[1].values())
    if len(spec) != 1:
        raise EdgekitError(
            f"{path}: serving_default takes {len(spec)} inputs, edgekit models take one",
            "export a single-input signature",
        )
    shape = [1] + list(spec[0].shape[1:])
    if any(d is None for d in shape):
        raise EdgekitError(
            f"{path}: input shape {shape} has unknown dimensions", "export the model with a fixed input size"
        )
    keys = sorted(sig.structured_outputs)
    fn = frozen(
        tf.function(lambda x: [sig(**{spec[0].name: x})[k] for k in keys]).get_concrete_function(
            tf.TensorSpec(shape, spec[0].dtype)
        )
    )

    def converter():
        return tf.lite.TFLiteConverter.from_concrete_functions([fn], loaded)

    return named_float_model(converter().convert(), converter, source)
