"""Keras model (.keras or .h5)."""

from __future__ import annotations

from pathlib import Path

from converters.sources import FloatModel
from edge.errors import EdgekitError


def load(source, path: Path):
    import tensorflow as tf

    try:
        model = tf.keras.models.load_model(path, compile=False)
    except Exception as e:
        raise EdgekitError(
            f"{path}: not a loadable Keras model ({type(e).__name__}: {str(e).splitlines()[0][:160]})",
            "pass a .keras or .h5 file saved by model.save()",
        ) from None
    shape = [1] + [int(d) if d is not None else None for d in model.inputs[0].shape[1:]]
    if None in shape:
        raise EdgekitError(
            f"{path}: input shape {shape} has unknown dimensions", "export the model with a fixed input size"
        )
    fn = frozen(
        tf.function(lambda x: model(x, training=False)).get_concrete_function(
            tf.TensorSpec(shape, model.inputs[0].dtype)
        )
    )

    def converter():
        return tf.lite.TFLiteConverter.from_concrete_functions([fn], model)

    flat = converter().convert()
    return named_float_model(flat, converter, source)


def frozen(fn):
    """Variables -> constants: otherwise TFLite keeps READ_VARIABLE ops that have nothing to read."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(fn)


def named_float_model(flat: bytes, converter, source) -> FloatModel:
    """Output names as TFLite wrote them; a card's source.outputs maps logical names onto them by position."""
    from converters.tflite_surgery import read_model

    sg = read_model(flat).subgraphs[0]
    names = [sg.tensors[i].name.decode() for i in sg.outputs]
    if source.outputs and len(source.outputs) != len(names):
        raise EdgekitError(
            f"card: source.outputs names {len(source.outputs)} outputs, the model has {len(names)}",
            "list one logical name per model output",
        )
    return FloatModel(
        tflite=flat, output_names=names, input_name=sg.tensors[sg.inputs[0]].name.decode(), tf_converter=converter
    )
