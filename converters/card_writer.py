"""Write NAME.card.json next to NAME.tflite: the contract the device reads."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edge.card import ModelCard, TensorSpec, sha256_file
from edge.runtime.interpreter import require_interpreter

_TOOLS = (
    "edgekit",
    "tensorflow-cpu",
    "ai-edge-quantizer",
    "ai-edge-litert",
    "tfjs-graph-converter",
    "tf2onnx",
    "numpy",
    "opencv-python-headless",
)


def tool_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _TOOLS:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _spec(d: dict) -> TensorSpec:
    scale, zero = d["quantization"]
    quantized = scale != 0.0
    return TensorSpec(
        name=d["name"],
        shape=[int(s) for s in d["shape"]],
        dtype=d["dtype"].__name__,
        scale=float(scale) if quantized else None,
        zero_point=int(zero) if quantized else None,
    )


def make_card(source_card, tflite_path: Path, output_names: list[str], target: str, **extra) -> ModelCard:
    Interpreter = require_interpreter()
    it = Interpreter(model_path=str(tflite_path))
    by_name = {d["name"]: d for d in it.get_output_details()}
    card = ModelCard(
        name=source_card.name,
        task=source_card.task,
        target=target,
        tflite=tflite_path.name,
        sha256=sha256_file(tflite_path),
        preprocess=source_card.preprocess,
        decoder=source_card.decoder,
        labels=source_card.labels,
        outputs=list(source_card.source.outputs) or output_names,
        inputs=[_spec(d) for d in it.get_input_details()],
        output_tensors=[_spec(by_name[n]) for n in output_names],
        source=source_card.source.model_dump(),
        licence=source_card.licence,
        tools=tool_versions(),
        notes=source_card.notes,
        **extra,
    )
    card.placed_in(tflite_path.parent)
    return card
