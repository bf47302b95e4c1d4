"""Source formats -> a float TFLite model (and, for TensorFlow formats, a converter factory for INT8).

One module per format; `load(source, path)` dispatches on `source.format`."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

_MODULES = {
    "keras": "converters.sources.keras",
    "savedmodel": "converters.sources.savedmodel",
    "frozen_graph": "converters.sources.frozen_graph",
    "tfjs": "converters.sources.tfjs",
    "tfjs_weights": "converters.sources.tfjs_weights",
    "tflite": "converters.sources.tflite",
    "onnx": "converters.sources.onnx",
}


@dataclass
class FloatModel:
    tflite: bytes  # the float model, as the device could run it
    output_names: list[str]  # tensor names in `tflite`, in the card's logical output order
    input_name: str
    # TensorFlow formats: a fresh tf.lite.TFLiteConverter for the same graph (INT8 goes through TF's converter,
    # which fuses activations). None for .tflite sources (INT8 goes through ai-edge-quantizer).
    tf_converter: Callable[[], object] | None = None
    notes: dict = field(default_factory=dict)
    input_layout: str | None = None  # set when the conversion changed the input layout from the card's

    def notes_public(self) -> dict:
        return {k: v for k, v in self.notes.items() if isinstance(v, (int, float, str))}


def load(source, path: Path) -> FloatModel:
    return importlib.import_module(_MODULES[source.format]).load(source, Path(path))
