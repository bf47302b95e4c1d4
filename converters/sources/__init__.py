"""Source formats -> a float TFLite model (and, for TensorFlow formats, a converter factory for INT8).

One module per format; `load(source, path)` dispatches on `source.format`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge.registry import Registry

# Source format -> its module (each has `load(source, path) -> FloatModel`), imported when first used.
SOURCES = Registry("source format", "set source.format in the card to one of: {known}")
for _name in ("keras", "savedmodel", "frozen_graph", "tfjs", "tfjs_weights", "tflite", "onnx", "pytorch"):
    SOURCES.lazy(_name, f"converters.sources.{_name}")


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
    return SOURCES.get(source.format).load(source, Path(path))
