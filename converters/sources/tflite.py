"""Float .tflite, including MediaPipe-style files (fp16 weights, no signature, old opcode fields)."""

from __future__ import annotations

from pathlib import Path

from converters.sources import FloatModel
from converters.tflite_surgery import prepare_for_quantizer, read_model
from edge.errors import EdgekitError


def load(source, path: Path):
    data = path.read_bytes()
    model = read_model(data, str(path))
    sg = model.subgraphs[0]
    names = [sg.tensors[i].name.decode() for i in sg.outputs]
    inputs = [sg.tensors[i].name.decode() for i in sg.inputs]
    if len(inputs) != 1:
        raise EdgekitError(f"{path}: has {len(inputs)} inputs, edgekit models take one", "export a single-input model")
    wanted = list(source.outputs.values()) or names
    missing = [w for w in wanted if w not in names]
    if missing:
        raise EdgekitError(
            f"{path}: output tensor(s) {missing} not in the model (it has {names})", "fix source.outputs in the card"
        )
    fixed, notes = prepare_for_quantizer(data, str(path))
    # Keep the float reference as shipped (fp16 weights run fine); quantise from the prepared copy.
    return FloatModel(tflite=data, output_names=wanted, input_name=inputs[0], notes={**notes, "prepared": fixed})
