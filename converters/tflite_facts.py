"""What a .tflite file says about itself, read from its flatbuffer without running it: custom ops (and their options),
builtin ops, I/O tensors, how its weights are stored, and the metadata Ultralytics embeds (a zip appended to the file,
holding `temp_meta.txt`)."""

from __future__ import annotations

import ast
import io
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from flatbuffers import flexbuffers

from converters.tflite_surgery import op_names, read_model

_TYPES = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


@dataclass
class Tensor:
    name: str
    shape: list[int]
    dtype: str
    scale: float | None
    zero_point: int | None


@dataclass
class TfliteFacts:
    path: Path
    ops: Counter  # op name (custom ops by their custom code) -> count
    custom_options: dict[str, dict] = field(default_factory=dict)  # custom op -> its (first) decoded options
    custom_outputs: dict[str, list[str]] = field(default_factory=dict)  # custom op -> its (first) output tensor names
    inputs: list[Tensor] = field(default_factory=list)
    outputs: list[Tensor] = field(default_factory=list)
    weight_dtypes: Counter = field(default_factory=Counter)  # dtype of constant tensors -> count
    embedded_metadata: dict | None = None  # Ultralytics' temp_meta.txt, when present

    @property
    def custom_ops(self) -> set[str]:
        return {k for k in self.ops if k.startswith("custom:")}

    def has_custom(self, code: str) -> bool:
        return f"custom:{code}" in self.ops

    @property
    def quantized(self) -> bool:
        """INT8 inside (weights or I/O): such a file is kept as it is, never quantised a second time."""
        return bool(self.weight_dtypes.get("int8") or self.weight_dtypes.get("uint8")) or any(
            t.dtype in ("int8", "uint8") for t in self.inputs
        )

    @property
    def quantization_kind(self) -> str:
        if any(t.dtype in ("int8", "uint8") for t in self.inputs):
            return f"full integer ({self.inputs[0].dtype} I/O)"
        if self.quantized:
            return "int8 inside, float I/O"
        return "float"


def _tensor(t) -> Tensor:
    q = t.quantization
    scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) == 1 else None
    zero = int(q.zeroPoint[0]) if scale is not None and q.zeroPoint is not None else None
    shape = [int(s) for s in (t.shape if t.shape is not None else [])]
    return Tensor(t.name.decode(), shape, _TYPES.get(t.type, str(t.type)), scale, zero)


def _ultralytics_metadata(data: bytes) -> dict | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if "temp_meta.txt" not in z.namelist():
                return None
            text = z.read("temp_meta.txt").decode("utf-8", "replace")
    except zipfile.BadZipFile:
        return None
    try:
        meta = ast.literal_eval(text)  # Ultralytics writes str(dict)
    except (ValueError, SyntaxError):
        return None
    return meta if isinstance(meta, dict) else None


def read_facts(path: Path) -> TfliteFacts:
    data = Path(path).read_bytes()
    model = read_model(data, str(path))
    sg = model.subgraphs[0]
    names = op_names(model)
    ops: Counter = Counter()
    custom: dict[str, dict] = {}
    custom_out: dict[str, list[str]] = {}
    for op, name in zip(sg.operators, names):
        code = model.operatorCodes[op.opcodeIndex]
        if code.customCode:
            key = code.customCode.decode()
            name = f"custom:{key}"
            custom_out.setdefault(key, [sg.tensors[i].name.decode() for i in op.outputs])
            if key not in custom and op.customOptions is not None and len(op.customOptions):
                try:
                    custom[key] = dict(flexbuffers.Loads(bytes(bytearray(op.customOptions))))
                except Exception:  # not every custom op stores a flexbuffer map (edgetpu-custom-op does not)
                    custom[key] = {}
        ops[name] += 1
    weights: Counter = Counter()
    for t in sg.tensors:
        buf = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
        if buf is not None and buf.data is not None and len(buf.data):
            weights[_TYPES.get(t.type, str(t.type))] += 1
    return TfliteFacts(
        path=Path(path),
        ops=ops,
        custom_options=custom,
        custom_outputs=custom_out,
        inputs=[_tensor(sg.tensors[i]) for i in sg.inputs],
        outputs=[_tensor(sg.tensors[i]) for i in sg.outputs],
        weight_dtypes=weights,
        embedded_metadata=_ultralytics_metadata(data),
    )


def as_plain(value):
    """Flexbuffer values (numpy scalars, bytes) as JSON-friendly Python values, for the card."""
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
