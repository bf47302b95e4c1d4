"""Full-integer quantisation with real calibration tensors.

TensorFlow sources go through TF's converter (it fuses activations into convolutions); float .tflite sources through
ai-edge-quantizer (no TensorFlow graph exists for them). Either way: INT8 weights and activations, integer I/O."""

from __future__ import annotations

import contextlib
import io
from typing import Literal

import numpy as np
from tqdm import tqdm

from converters.sources import FloatModel


def quantize(
    model: FloatModel,
    calib: list[np.ndarray],
    io_dtype: Literal["int8", "uint8"] = "int8",
    true_range_outputs: bool = True,
    output_ranges: dict | None = None,
) -> tuple[bytes, dict]:
    if model.tf_converter is not None:
        return _with_tf(model, calib, io_dtype), {"engine": "tensorflow-lite-converter", "io": io_dtype}
    data, info = _with_quantizer(model, calib, true_range_outputs, output_ranges or {})
    return data, {"engine": "ai-edge-quantizer", "io": "int8", **info}


def _with_tf(model: FloatModel, calib: list[np.ndarray], io_dtype: str) -> bytes:
    import tensorflow as tf

    converter = model.tf_converter()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    bar = tqdm(total=len(calib), desc="calibrating", unit="img", leave=False, disable=None)

    def representative():
        for x in calib:
            bar.update(1)
            yield [x.astype(np.float32)]

    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = getattr(tf, io_dtype)
    with contextlib.redirect_stdout(io.StringIO()):
        out = converter.convert()
    bar.close()
    return out


def _with_quantizer(
    model: FloatModel, calib: list[np.ndarray], true_range_outputs: bool, output_ranges: dict
) -> tuple[bytes, dict]:
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    prepared = model.notes["prepared"]
    q = quantizer.Quantizer(prepared, recipe.static_wi8_ai8())
    runner = Interpreter(model_content=prepared)
    sig = runner.get_signature_list()["serving_default"]
    in_name = sig["inputs"][0]
    with contextlib.redirect_stdout(io.StringIO()):
        result = q.calibrate({"serving_default": [{in_name: x.astype(np.float32)} for x in calib]})
    info = {}
    if true_range_outputs:
        # Moving-average min/max clips rare large logits (BlazeFace: no face above 0.5 after INT8); outputs get the
        # true range seen on the calibration set instead.
        run = runner.get_signature_runner("serving_default")
        lo, hi = {}, {}
        for x in calib:
            for name, y in run(**{in_name: x.astype(np.float32)}).items():
                lo[name] = min(lo.get(name, np.inf), float(y.min()))
                hi[name] = max(hi.get(name, -np.inf), float(y.max()))
        for name, (low, high) in output_ranges.items():
            if name in lo:
                lo[name] = lo[name] if low is None else max(lo[name], low)
                hi[name] = hi[name] if high is None else min(hi[name], high)
        tied = _scale_tied(prepared)
        for name in lo:
            for t in tied.get(name, [name]):
                if t in result:
                    shape = np.shape(result[t]["min"])
                    result[t]["min"] = np.full(shape, lo[name], np.float32)
                    result[t]["max"] = np.full(shape, hi[name], np.float32)
        info["true_range_outputs"] = {n: [round(lo[n], 4), round(hi[n], 4)] for n in lo}
    with contextlib.redirect_stdout(io.StringIO()):
        out = q.quantize(result, enable_progress_report=False)
    from converters.tflite_surgery import compact_buffers

    return compact_buffers(bytes(out.quantized_model)), info


_SCALE_PRESERVING = {"RESHAPE", "CONCATENATION", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE"}


def _scale_tied(tflite: bytes) -> dict[str, list[str]]:
    """For each graph output, the tensors that must share its quantisation (back through reshapes and concats);
    giving only the output a new range would make the quantizer insert a requantising QUANTIZE op, which XNNPACK
    does not take (BlazeFace: a second partition)."""
    from converters.tflite_surgery import op_names, read_model

    model = read_model(tflite)
    sg = model.subgraphs[0]
    names = op_names(model)
    producer = {o: (names[k], op) for k, op in enumerate(sg.operators) for o in op.outputs}
    out = {}
    for o in sg.outputs:
        seen, stack = [], [o]
        while stack:
            t = stack.pop()
            seen.append(t)
            if t in producer and producer[t][0] in _SCALE_PRESERVING:
                stack += [
                    i for i in producer[t][1].inputs if i >= 0 and model.buffers[sg.tensors[i].buffer].data is None
                ]
        out[sg.tensors[o].name.decode()] = [sg.tensors[t].name.decode() for t in seen]
    return out
