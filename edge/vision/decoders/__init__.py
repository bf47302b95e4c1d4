"""Decoders turn a detector's raw outputs into Detections.
Each registers itself by the name a model card's `decoder.name` uses."""
from __future__ import annotations

import importlib

from edge.errors import EdgekitError

_MODULES = {
    "blazeface": "edge.vision.decoders.blazeface",
    "nanodet": "edge.vision.decoders.nanodet",
    "embedding": "edge.vision.decoders.embedding",  # embedders: unit vectors, called without a transform
    "yolo": "edge.vision.decoders.yolo",
    "ssd": "edge.vision.decoders.ssd",
    "classifier": "edge.vision.decoders.classifier",  # classifiers: top-k Classes, called without a transform
}


def get_decoder(name: str):
    """The decoder class registered under `name`: constructed as cls(card) and called as dec(outputs, transform)."""
    if name not in _MODULES:
        raise EdgekitError(f"decoder '{name}' is unknown", f"use one of: {', '.join(sorted(_MODULES))}")
    return importlib.import_module(_MODULES[name]).Decoder
