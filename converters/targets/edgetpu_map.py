"""Which ops of an INT8 .tflite Edge TPU compiler 16 would map, and why not, op by op (no compiler needed).

The compiler builds ONE Edge TPU subgraph fed by the model's inputs: an op is mapped when it is mappable itself and
none of its inputs comes from an op left on the CPU. An op that cannot be mapped cuts the graph there: everything
that depends on it runs on the CPU ("More than one subgraph is not supported"), while independent branches after it
in the file stay on the TPU (checked against the real compiler log for YOLOv8n)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from converters.targets import edgetpu_ops as ops
from converters.tflite_surgery import op_names

_INTEGER = {schema.TensorType.INT8, schema.TensorType.UINT8}
_TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


@dataclass
class Placement:
    index: int
    op: str
    version: int
    status: str  # the compiler's own wording (edgetpu_ops)
    why: str  # our reason, for a person
    outputs: tuple[str, ...]

    @property
    def on_tpu(self) -> bool:
        return self.status == ops.MAPPED


def is_constant(model, tensor) -> bool:
    buf = model.buffers[tensor.buffer]
    return (buf.data is not None and len(buf.data) > 0) or getattr(buf, "offset", 0) > 1


def view3(shape) -> tuple[int, int, int, int]:
    """The Edge TPU's [y, x, z] view of a shape (its 3 innermost dims) and the product of the dims outside it."""
    dims = [int(d) for d in shape] if shape is not None else []
    inner = ([1, 1, 1] + dims)[-3:]
    outer = 1
    for d in dims[:-3]:
        outer *= d
    return inner[0], inner[1], inner[2], outer


def _row(shape, whole: bool) -> int:
    y, x, z, _ = view3(shape)
    return y * x * z if whole else x * z


def _why_not(model, op, name: str, version: int) -> tuple[str, str] | None:
    """(status, reason) when this op cannot be mapped by itself, else None."""
    if name not in ops.EDGETPU_OPS:
        return ops.NOT_SUPPORTED, ops.REWRITES.get(name, "not an Edge TPU operation")
    if version >= ops.REJECTED_FROM_VERSION.get(name, 1 << 30):
        return ops.VERSION_NOT_SUPPORTED, f"v{version}: {ops.COMPILER} refuses v{ops.REJECTED_FROM_VERSION[name]}+"
    sg = model.subgraphs[0]
    acts = [
        sg.tensors[i] for i in list(op.inputs) + list(op.outputs) if i >= 0 and not is_constant(model, sg.tensors[i])
    ]
    odd = sorted({_TYPE_NAMES.get(t.type, str(t.type)) for t in acts if t.type not in _INTEGER})
    if odd:
        return ops.UNSUPPORTED_TYPE, f"{'/'.join(odd)} tensors (the Edge TPU takes int8/uint8 only)"
    opts = getattr(op, "builtinOptions", None)
    if name in ops.NO_FUSED_ACTIVATION and getattr(opts, "fusedActivationFunction", 0):
        return ops.LIMITATION, "fused activation function (documented: none allowed on this op)"
    if name == "STRIDED_SLICE" and is_constant(model, sg.tensors[op.inputs[3]]):
        strides = np.frombuffer(bytes(bytearray(model.buffers[sg.tensors[op.inputs[3]].buffer].data)), np.int32)
        if strides.size and (strides != 1).any():
            return ops.LIMITATION, f"strides {strides.tolist()} (documented: all strides must be 1)"
    for t in acts:
        if view3(t.shape)[3] > 1:
            return (
                ops.LIMITATION,
                f"tensor {[int(d) for d in t.shape]}: only the 3 innermost dims may exceed 1 (documented)",
            )
    rows = [(_row(t.shape, name == "TRANSPOSE"), [int(d) for d in t.shape]) for t in acts if t.shape is not None]
    row, shape = max(rows) if rows else (0, [])
    if row > ops.ROW_LIMIT:
        what = "tensor" if name == "TRANSPOSE" else "row (x*z)"
        return (
            ops.LIMITATION,
            f"{what} of {row:,} elements in {shape} > {ops.ROW_LIMIT:,} (activation too large; fitted)",
        )
    return None


def place(model) -> list[Placement]:
    sg = model.subgraphs[0]
    names = op_names(model)
    on_cpu: set[int] = set()  # tensors written by ops left on the CPU
    out = []
    for k, op in enumerate(sg.operators):
        version = model.operatorCodes[op.opcodeIndex].version
        reason = _why_not(model, op, names[k], version)
        if reason is None and any(i in on_cpu for i in op.inputs):
            reason = ops.SUBGRAPH, "an input comes from an op on the CPU"
        status, why = reason or (ops.MAPPED, "")
        if status != ops.MAPPED:
            on_cpu.update(op.outputs)
        out.append(Placement(k, names[k], version, status, why, tuple(sg.tensors[o].name.decode() for o in op.outputs)))
    return out


def cuts(model, placements: list[Placement]) -> list[Placement]:
    """Where the graph leaves the TPU: CPU ops none of whose inputs come from another CPU op."""
    sg = model.subgraphs[0]
    producer = {o: p for p, op in zip(placements, sg.operators) for o in op.outputs}
    return [
        p
        for p, op in zip(placements, sg.operators)
        if not p.on_tpu and not any(i in producer and not producer[i].on_tpu for i in op.inputs)
    ]


def versions_too_new(model) -> dict[str, dict]:
    """Op versions compiler 16 refuses (the whole model) or has not been seen to take."""
    names = op_names(model)
    seen: dict[str, int] = {}
    for k, op in enumerate(model.subgraphs[0].operators):
        seen[names[k]] = max(seen.get(names[k], 0), model.operatorCodes[op.opcodeIndex].version)
    out = {}
    for name, v in sorted(seen.items()):
        if v >= ops.REJECTED_FROM_VERSION.get(name, 1 << 30):
            out[name] = {
                "version": v,
                "verdict": f"refused (v{ops.REJECTED_FROM_VERSION[name]}+): the whole model fails",
            }
        elif v > ops.SEEN_ACCEPTED_VERSION.get(name, 1):
            seen = ops.SEEN_ACCEPTED_VERSION.get(name)
            out[name] = {
                "version": v,
                "verdict": f"not known: v{seen} seen accepted"
                if seen
                else "not known: this op is in no compiler-16 log here",
            }
    return out


def table(placements: list[Placement]) -> Counter:
    """(op, status) -> count, the shape of the compiler's operation log."""
    return Counter((p.op, p.status) for p in placements)


def compiled_by_edgetpu(model) -> dict | None:
    """A model edgetpu_compiler already compiled: its `edgetpu-custom-op` ops and what stays on the CPU."""
    names = op_names(model)
    custom = [
        k
        for k, op in enumerate(model.subgraphs[0].operators)
        if model.operatorCodes[op.opcodeIndex].customCode == b"edgetpu-custom-op"
    ]
    if not custom:
        return None
    cpu = Counter(n for k, n in enumerate(names) if k not in custom)
    return {"edgetpu_custom_ops": len(custom), "cpu_ops": dict(cpu), "cpu_op_count": sum(cpu.values())}
