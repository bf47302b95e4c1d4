"""Rewrites that let the Edge TPU map activations it lacks, done on the .tflite flatbuffer (float or INT8):

- LEAKY_RELU(x, a), 0 <= a <= 1  ->  MAXIMUM(x, MUL(x, a))                 (exact in float)
- HARD_SWISH(x)                  ->  MUL(x, MUL(ADD(x, 3) + RELU6, 1/6))     (float: within 1 ulp)

On the INT8 flatbuffer, after quantisation, so one rewrite serves both quantisation engines (TF's converter and
ai-edge-quantizer) and survives them: TF 2.21's converter fuses x*relu6(x+3)/6 back into HARD_SWISH (checked).
In INT8 the new tensors take the output's quantisation (MAXIMUM compares raw int8 values, so both of its inputs must
share it), the constants are exact in int8 (a = 127 * a/127), and the hard-sigmoid in the middle gets [0, 6] / [0,
1]."""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from converters.tflite_surgery import op_names, read_model, write_model

_OP = schema.BuiltinOperator
_INT8, _FLOAT = schema.TensorType.INT8, schema.TensorType.FLOAT32
# Op versions for the kernels used here (TFLite's op versioning: int8 ADD/MUL/MAXIMUM are v2, an int8 requantise v1);
# all within what edgetpu_compiler 16 takes.
_VERSION = {(_OP.ADD, _INT8): 2, (_OP.MUL, _INT8): 2, (_OP.MAXIMUM, _INT8): 2, (_OP.QUANTIZE, _INT8): 1}


class _Graph:
    """Appends tensors, constants and ops to subgraph 0 of a ModelT."""

    def __init__(self, model):
        self.model, self.sg = model, model.subgraphs[0]

    def opcode(self, builtin: int, dtype: int) -> int:
        version = _VERSION.get((builtin, dtype), 1)
        for k, code in enumerate(self.model.operatorCodes):
            if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin and code.version == version:
                return k
        code = schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), version
        self.model.operatorCodes.append(code)
        return len(self.model.operatorCodes) - 1

    def tensor(self, name: str, like, quant=None, data: np.ndarray | None = None) -> int:
        t = schema.TensorT()
        t.name = name.encode()
        buf = schema.BufferT()
        if data is not None:
            t.shape, t.type = np.array(data.shape, np.int32), like
            buf.data = np.frombuffer(data.tobytes(), np.uint8)
        else:
            t.shape, t.type = np.array(like.shape, np.int32), like.type
            t.shapeSignature = None if like.shapeSignature is None else np.array(like.shapeSignature, np.int32)
        self.model.buffers.append(buf)
        t.buffer = len(self.model.buffers) - 1
        if quant is not None:
            q = schema.QuantizationParametersT()
            q.scale, q.zeroPoint, q.quantizedDimension = [float(quant[0])], [int(quant[1])], 0
            t.quantization = q
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def const(self, name: str, value: float, rank: int, dtype: int) -> int:
        """A scalar constant broadcast to `rank` dims; in int8 exactly representable (q = +-127)."""
        shape = (1,) * rank
        if dtype == _FLOAT:
            return self.tensor(name, _FLOAT, data=np.full(shape, value, np.float32))
        q = 127 if value >= 0 else -127
        return self.tensor(name, _INT8, (abs(value) / 127 or 1.0, 0), np.full(shape, q, np.int8))

    def op(self, builtin: int, dtype: int, inputs: list[int], outputs: list[int], options=None, options_type=0):
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = self.opcode(builtin, dtype), inputs, outputs
        op.builtinOptionsType, op.builtinOptions = options_type, options
        return op


def _quant(t):
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) != 1:
        return None
    return float(q.scale[0]), int(q.zeroPoint[0])


def _mul_options(activation=schema.ActivationFunctionType.NONE):
    o = schema.MulOptionsT()
    o.fusedActivationFunction = activation
    return o, schema.BuiltinOptions.MulOptions


def _leaky_relu(g: _Graph, op, k: int) -> list | None:
    x, y = op.inputs[0], op.outputs[0]
    tx, ty = g.sg.tensors[x], g.sg.tensors[y]
    alpha = float(op.builtinOptions.alpha)
    if not 0 <= alpha <= 1 or tx.type not in (_INT8, _FLOAT):
        return None
    rank, dtype, qy = len(tx.shape), tx.type, _quant(ty)
    if dtype == _INT8 and (qy is None or _quant(tx) is None):
        return None
    a = g.const(f"coral_rewrite/{k}/alpha", alpha, rank, dtype)
    ax = g.tensor(f"coral_rewrite/{k}/alpha_x", tx, qy)
    new = [g.op(_OP.MUL, dtype, [x, a], [ax], *_mul_options())]
    if dtype == _INT8 and _quant(tx) != qy:  # MAXIMUM compares raw values: bring x to the output's quantisation
        xq = g.tensor(f"coral_rewrite/{k}/x_requantised", tx, qy)
        new.append(
            g.op(_OP.QUANTIZE, dtype, [x], [xq], schema.QuantizeOptionsT(), schema.BuiltinOptions.QuantizeOptions)
        )
        x = xq
    new.append(
        g.op(
            _OP.MAXIMUM,
            dtype,
            [x, ax],
            [y],
            schema.MaximumMinimumOptionsT(),
            schema.BuiltinOptions.MaximumMinimumOptions,
        )
    )
    return new


def _hard_swish(g: _Graph, op, k: int) -> list | None:
    x, y = op.inputs[0], op.outputs[0]
    tx, ty = g.sg.tensors[x], g.sg.tensors[y]
    if tx.type not in (_INT8, _FLOAT) or (tx.type == _INT8 and _quant(ty) is None):
        return None
    rank, dtype = len(tx.shape), tx.type
    int8 = dtype == _INT8
    three = g.const(f"coral_rewrite/{k}/three", 3.0, rank, dtype)
    sixth = g.const(f"coral_rewrite/{k}/one_sixth", 1 / 6, rank, dtype)
    relu6 = g.tensor(f"coral_rewrite/{k}/relu6_x_plus_3", tx, (6 / 255, -128) if int8 else None)
    gate = g.tensor(f"coral_rewrite/{k}/hard_sigmoid", tx, (1 / 255, -128) if int8 else None)
    add = schema.AddOptionsT()
    add.fusedActivationFunction = schema.ActivationFunctionType.RELU6
    return [
        g.op(_OP.ADD, dtype, [x, three], [relu6], add, schema.BuiltinOptions.AddOptions),
        g.op(_OP.MUL, dtype, [relu6, sixth], [gate], *_mul_options()),
        g.op(_OP.MUL, dtype, [x, gate], [y], *_mul_options()),
    ]


_REWRITES = {"LEAKY_RELU": _leaky_relu, "HARD_SWISH": _hard_swish}


def rewrite(tflite: bytes) -> tuple[bytes, dict]:
    """Rewrite every LEAKY_RELU/HARD_SWISH it can; returns the model and counts (rewritten, and left as they were)."""
    model = read_model(tflite)
    names = op_names(model)
    if not any(n in _REWRITES for n in names):
        return tflite, {}
    g = _Graph(model)
    ops, done, left = [], {}, {}
    for k, (op, name) in enumerate(zip(model.subgraphs[0].operators, names)):
        new = _REWRITES[name](g, op, k) if name in _REWRITES else None
        if name in _REWRITES:
            tally = done if new else left
            tally[name.lower()] = tally.get(name.lower(), 0) + 1
        ops += new or [op]
    model.subgraphs[0].operators = ops
    return write_model(model), {"coral_rewrites": done, **({"coral_rewrites_skipped": left} if left else {})}
