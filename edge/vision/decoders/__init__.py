"""Decoders turn a model's raw outputs into results (Detections, unit vectors, Classes), by the name a model card's
`decoder.name` uses. Each is a class constructed as cls(card) and called as dec(outputs, transform)."""

from __future__ import annotations

from edge.registry import Registry

DECODERS: Registry[type] = Registry("decoder", "set the card's decoder.name to one of: {known}")
for _name in ("blazeface", "nanodet", "yolo", "ssd"):
    DECODERS.lazy(_name, f"edge.vision.decoders.{_name}:Decoder")
DECODERS.lazy("embedding", "edge.vision.decoders.embedding:Decoder")  # unit vectors, called without a transform
DECODERS.lazy("classifier", "edge.vision.decoders.classifier:Decoder")  # top-k Classes, called without a transform


def get_decoder(name: str) -> type:
    """The decoder class registered under `name`."""
    return DECODERS.get(name)
