"""The accelerator registry and what every accelerator shares: an interpreter with the config's thread count and the
delegates the accelerator adds (none for the plain CPU, whose XNNPACK LiteRT applies by itself)."""

from __future__ import annotations

from pathlib import Path

from edge.registry import Registry
from edge.runtime.interpreter import require_interpreter

ACCELERATORS = Registry("accelerator", "set runtime.accelerator.type to one of: {known}")


class Accelerator:
    name = ""
    Config: type  # its pydantic config, discriminated by `type`

    def __init__(self, config):
        self.config = config

    def delegates(self) -> list:
        return []

    def model_path(self, card) -> Path:
        """The file this accelerator runs for a card: the plain .tflite unless the accelerator needs its own build."""
        return card.path

    def interpreter(self, model_path: str):
        Interpreter = require_interpreter()
        delegates = self.delegates()
        extra = {"experimental_delegates": delegates} if delegates else {}
        return Interpreter(model_path=str(model_path), num_threads=self.config.threads, **extra)
