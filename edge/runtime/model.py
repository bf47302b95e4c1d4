"""One model: a .tflite with its card, on a chosen accelerator. Callers give and get float arrays."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.card import ModelCard, load_card
from edge.errors import EdgekitError
from edge.runtime.accelerators import config_for, make_accelerator
from edge.runtime.report import GraphReport, graph_report


class _Quant:
    """Affine (de)quantisation of one tensor, from the tensor's own scale and zero point (per-tensor I/O)."""

    def __init__(self, detail: dict):
        self.dtype = np.dtype(detail["dtype"])
        scale, zero = detail["quantization"]
        self.quantized = self.dtype.kind in "iu" and scale != 0.0
        self.scale, self.zero = np.float32(scale), np.float32(zero)
        if self.quantized:
            info = np.iinfo(self.dtype)
            self.lo, self.hi = info.min, info.max

    def quantize(self, x: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return x.astype(self.dtype, copy=False)
        return np.clip(np.rint(x / self.scale + self.zero), self.lo, self.hi).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return q.astype(np.float32, copy=False)
        return (q.astype(np.float32) - self.zero) * self.scale


class Model:
    """Load `NAME.tflite` + `NAME.card.json`; `run(x)` takes the preprocessed float input, returns float outputs
    in the card's output order."""

    def __init__(self, card: ModelCard | str | Path, accelerator=None, verify: bool = True):
        self.card = card if isinstance(card, ModelCard) else load_card(card, verify=verify)
        if accelerator is None or isinstance(accelerator, str):
            accelerator = config_for(accelerator or "cpu")
        self.accelerator = make_accelerator(accelerator)
        try:
            self.interpreter = self.accelerator.interpreter(str(self.card.path))
            self.interpreter.allocate_tensors()
        except EdgekitError:
            raise
        except (ValueError, RuntimeError) as e:
            raise EdgekitError(
                f"model {self.card.path}: cannot be loaded ({str(e).splitlines()[0]})",
                f"the file is corrupt or truncated: rebuild it with `edgekit models build {self.card.name}`",
            ) from None
        inputs = self.interpreter.get_input_details()
        if len(inputs) != 1:
            raise EdgekitError(f"model {self.card.path}: has {len(inputs)} inputs, edgekit models take one", "re-convert with one input")
        self._in = inputs[0]
        self._in_q = _Quant(self._in)
        self.input_shape = tuple(int(d) for d in self._in["shape"])
        outputs = self.interpreter.get_output_details()
        by_name = {d["name"]: d for d in outputs}
        wanted = [t.name for t in self.card.output_tensors] or [d["name"] for d in outputs]
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise EdgekitError(f"model card for {self.card.path}: output tensor(s) {missing} are not in the model", f"rebuild it with `edgekit models build {self.card.name}`")
        self._outs = [by_name[n] for n in wanted]
        self._out_q = [_Quant(d) for d in self._outs]
        self._check_card()

    def _check_card(self) -> None:
        p = self.card.preprocess
        c = 1 if p.color == "GRAY" else 3
        expected = (1, p.height, p.width, c) if p.layout == "NHWC" else (1, c, p.height, p.width)
        if self.input_shape != expected:
            raise EdgekitError(
                f"model card for {self.card.path}: preprocess gives {expected} but the model's input is {self.input_shape}",
                "fix width/height/layout/color in the card, or rebuild the model",
            )

    @property
    def input_dtype(self) -> np.dtype:
        return self._in_q.dtype

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        if tuple(x.shape) != self.input_shape:
            raise ValueError(f"model {self.card.name}: input shape {tuple(x.shape)}, expected {self.input_shape}")
        self.interpreter.set_tensor(self._in["index"], self._in_q.quantize(x))
        self.interpreter.invoke()
        return [q.dequantize(self.interpreter.get_tensor(d["index"])) for d, q in zip(self._outs, self._out_q)]

    def report(self) -> GraphReport:
        return graph_report(self.interpreter)
