"""The one inference seam: a .tflite with its card, on a chosen accelerator. It preprocesses a BGR frame as the card
says, runs the interpreter (quantising and dequantising its int8 I/O) and decodes with the card's decoder. The device's
detectors, embedder and classifier, the converters' gate, face crops and the model-update smoke test all call it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from edge.card import ModelCard, load_card
from edge.errors import EdgekitError
from edge.preprocess import Transform, preprocess, preprocess_quantized, quantizing_table
from edge.runtime.accelerators import config_for, make_accelerator
from edge.runtime.report import GraphReport, graph_report
from edge.vision.decoders import get_decoder
from edge.vision.detections import Detections


class TensorQuant:
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


class CardModel:
    """`infer(image)`: the decoded result for a BGR uint8 frame (Detections in frame pixels, clipped to it; unit
    vectors; Classes). `prepare` / `run` / `decode` are its three steps, for callers that time or compare one step
    (the gate runs float and INT8 on the same prepared input; the smoke test times `run`): together they are `infer`."""

    def __init__(
        self,
        card: ModelCard | str | Path,
        accelerator=None,
        threads: int | None = None,
        verify: bool = True,
        tasks: tuple[str, ...] | None = None,
    ):
        """`tasks`: the card tasks the caller can use (a detector refuses an embedder card before loading it)."""
        self.card = card if isinstance(card, ModelCard) else load_card(card, verify=verify)
        if tasks is not None and self.card.task not in tasks:
            raise EdgekitError(
                f"model card {self.card.name}: task '{self.card.task}' is not what this stage runs",
                f"pick a card whose task is {' or '.join(tasks)}",
            )
        self.accelerator = make_accelerator(accelerator_config(accelerator, threads))
        self.model_path = self.accelerator.model_path(self.card)
        try:
            self.interpreter = self.accelerator.interpreter(str(self.model_path))
            self.interpreter.allocate_tensors()
        except EdgekitError:
            raise
        except (ValueError, RuntimeError) as e:
            raise EdgekitError(
                f"model {self.model_path}: cannot be loaded ({str(e).splitlines()[0]})",
                f"the file is corrupt or truncated: rebuild it with `edgekit models build {self.card.name}`",
            ) from None
        inputs = self.interpreter.get_input_details()
        if len(inputs) != 1:
            raise EdgekitError(
                f"model {self.model_path}: has {len(inputs)} inputs, edgekit models take one",
                "re-convert with one input",
            )
        self._in = inputs[0]
        self._in_q = TensorQuant(self._in)
        self.input_shape = tuple(int(d) for d in self._in["shape"])
        outputs = self.interpreter.get_output_details()
        by_name = {d["name"]: d for d in outputs}
        wanted = [t.name for t in self.card.output_tensors] or [d["name"] for d in outputs]
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise EdgekitError(
                f"model card for {self.model_path}: output tensor(s) {missing} are not in the model",
                f"rebuild it with `edgekit models build {self.card.name}`",
            )
        self.output_details = [by_name[n] for n in wanted]
        self._out_q = [TensorQuant(d) for d in self.output_details]
        self._check_card()
        q = self._in_q
        self._table = quantizing_table(self.card.preprocess, q.scale, q.zero, q.dtype) if q.quantized else None
        self.decoder = get_decoder(self.card.decoder.name)(self.card)

    def _check_card(self) -> None:
        p = self.card.preprocess
        c = 1 if p.color == "GRAY" else 3
        expected = (1, p.height, p.width, c) if p.layout == "NHWC" else (1, c, p.height, p.width)
        if self.input_shape != expected:
            raise EdgekitError(
                f"model card for {self.model_path}: preprocess gives {expected} but the model's input is "
                f"{self.input_shape}",
                "fix width/height/layout/color in the card, or rebuild the model",
            )

    @property
    def input_dtype(self) -> np.dtype:
        return self._in_q.dtype

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the model input, in pixels."""
        return self.card.preprocess.width, self.card.preprocess.height

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(d) for d in o["shape"]) for o in self.output_details]

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, Transform]:
        """The input tensor for a BGR uint8 frame, and the transform from input pixels back to the frame."""
        with self._blamed():
            return preprocess(image, self.card.preprocess)

    def decode(self, outputs: list[np.ndarray], transform: Transform | None = None, **decoder_kwargs):
        """The card's decoder on raw outputs; detection boxes clipped to the frame the transform came from."""
        with self._blamed():
            result = self.decoder(outputs, transform, **decoder_kwargs)
            if isinstance(result, Detections) and transform is not None and transform.frame_size is not None:
                clip_boxes(result, transform.frame_size)
            return result

    def quantized_input(self, image: np.ndarray) -> tuple[np.ndarray, Transform] | None:
        """What prepare then the input's quantisation give, straight from the uint8 pixels through one table look-up
        (bit for bit the same tensor); None for a float input or a normalisation that is not per pixel."""
        if self._table is None:
            return None
        with self._blamed():
            return preprocess_quantized(image, self.card.preprocess, self._table, self._in_q.dtype)

    def infer(self, image: np.ndarray, **decoder_kwargs):
        """prepare -> run -> decode (the first two fused for INT8 inputs): what the device, the gate and the smoke
        test all call."""
        fused = self.quantized_input(image)
        if fused is None:
            x, transform = self.prepare(image)
            outputs = self.run(x)
        else:
            q, transform = fused
            with self._blamed():
                outputs = self._invoke(q)
        return self.decode(outputs, transform, **decoder_kwargs)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        with self._blamed():
            if tuple(x.shape) != self.input_shape:
                raise ValueError(f"model {self.card.name}: input shape {tuple(x.shape)}, expected {self.input_shape}")
            return self._invoke(self._in_q.quantize(x))

    def _invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        """The input tensor, already in the input's dtype, through the interpreter; outputs dequantised."""
        self.interpreter.set_tensor(self._in["index"], tensor)
        self.interpreter.invoke()
        outputs = self.interpreter.get_tensor
        return [q.dequantize(outputs(d["index"])) for d, q in zip(self.output_details, self._out_q)]

    @contextlib.contextmanager
    def _blamed(self):
        """Failures inside this model's steps carry its name (`failed_in`): a model on probation is blamed for its own
        failures, not for the app's."""
        try:
            yield
        except Exception as e:
            if failed_in(e) is None:
                e.add_note(f"{FAILED_IN}{self.card.name}")
            raise

    def report(self) -> GraphReport:
        return graph_report(self.interpreter)


FAILED_IN = "in model "


def failed_in(error: BaseException) -> str | None:
    """The card name of the model whose prepare/run/decode raised `error`, or None when it came from elsewhere."""
    notes = [n for n in getattr(error, "__notes__", ()) if n.startswith(FAILED_IN)]
    return notes[0][len(FAILED_IN) :] if notes else None


def clip_boxes(dets: Detections, frame_size: tuple[int, int]) -> Detections:
    """Boxes clipped in place to a frame of `frame_size` (w, h): a box may reach past the edge of a cut-off face."""
    w, h = frame_size
    np.clip(dets.boxes, 0, np.array([w, h, w, h], np.float32), out=dets.boxes)
    return dets


def accelerator_config(accelerator=None, threads: int | None = None):
    """An accelerator config from a config, a name ("cpu", "coral") or None (cpu); `threads` overrides its count."""
    if accelerator is None or isinstance(accelerator, str):
        return config_for(accelerator or "cpu", **({} if threads is None else {"threads": threads}))
    return accelerator if threads is None else accelerator.model_copy(update={"threads": threads})
