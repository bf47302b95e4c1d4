"""Make a float .tflite (MediaPipe-style, say) digestible by ai-edge-quantizer: fp16 weights behind DEQUANTIZE ops
folded
into fp32 constants, old opcode fields normalised, and a SignatureDef added when there is none."""

from __future__ import annotations

from collections import Counter

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from edge.errors import EdgekitError


def read_model(data: bytes, path: str = "model") -> schema.ModelT:
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise EdgekitError(
            f"{path}: not a TFLite flatbuffer (no TFL3 identifier)",
            "pass a .tflite file; re-download it if it is truncated",
        )
    try:
        return schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    except Exception as e:  # flatbuffers raises bare struct/index errors on garbage
        raise EdgekitError(
            f"{path}: corrupt TFLite flatbuffer ({type(e).__name__})", "re-download or re-export the model"
        ) from None


def write_model(model: schema.ModelT) -> bytes:
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _opname(model, op) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return names.get(builtin, str(builtin))


def op_names(model) -> list[str]:
    return [_opname(model, op) for op in model.subgraphs[0].operators]


def normalise_opcodes(model) -> None:
    for code in model.operatorCodes:
        code.builtinCode = max(code.builtinCode, code.deprecatedBuiltinCode)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)


def fold_fp16_weights(model) -> int:
    """DEQUANTIZE(fp16 constant) -> fp32 constant; returns how many were folded."""
    sg = model.subgraphs[0]
    kept, folded = [], 0
    for op in sg.operators:
        if _opname(model, op) == "DEQUANTIZE":
            src, dst = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
            buf = model.buffers[src.buffer]
            if src.type == schema.TensorType.FLOAT16 and buf.data is not None and len(buf.data):
                values = np.frombuffer(bytes(bytearray(buf.data)), dtype=np.float16).astype(np.float32)
                new = schema.BufferT()
                new.data = np.frombuffer(values.tobytes(), dtype=np.uint8)
                model.buffers.append(new)
                dst.buffer = len(model.buffers) - 1
                folded += 1
                continue
        kept.append(op)
    sg.operators = kept
    return folded


_FUSABLE = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "SUB", "MUL", "FULLY_CONNECTED"}
_ACTIVATIONS = {"RELU": schema.ActivationFunctionType.RELU, "RELU6": schema.ActivationFunctionType.RELU6}


def producers_and_uses(sg) -> tuple[dict, Counter]:
    """For a subgraph: the op that writes each tensor, and how many op inputs read each tensor (a fusion may only
    swallow a tensor nothing else reads)."""
    producer = {o: op for op in sg.operators for o in op.outputs}
    return producer, Counter(i for op in sg.operators for i in op.inputs)


def fuse_activations(model) -> int:
    """Fold a standalone RELU/RELU6 into the op that feeds it (when that op feeds nothing else). In INT8, XNNPACK does
    not take a standalone RELU, so each one would cut the graph into another partition (BlazeFace: 18)."""
    sg = model.subgraphs[0]
    producer, consumers = producers_and_uses(sg)
    kept, fused = [], 0
    for op in sg.operators:
        name = _opname(model, op)
        if name in _ACTIVATIONS:
            src = producer.get(op.inputs[0])
            opts = getattr(src, "builtinOptions", None) if src is not None else None
            if (
                src is not None
                and _opname(model, src) in _FUSABLE
                and hasattr(opts, "fusedActivationFunction")
                and opts.fusedActivationFunction == schema.ActivationFunctionType.NONE
                and consumers.get(op.inputs[0]) == 1
                and op.inputs[0] not in sg.outputs
            ):
                opts.fusedActivationFunction = _ACTIVATIONS[name]
                src.outputs = [op.outputs[0]]
                fused += 1
                continue
        kept.append(op)
    sg.operators = kept
    return fused


def _const(model, sg, index: int) -> np.ndarray | None:
    t = sg.tensors[index]
    buf = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
    if buf is None or buf.data is None or not len(buf.data):
        return None
    dtype = {
        schema.TensorType.INT32: np.int32,
        schema.TensorType.INT64: np.int64,
        schema.TensorType.FLOAT32: np.float32,
    }.get(t.type)
    return None if dtype is None else np.frombuffer(bytes(bytearray(buf.data)), dtype=dtype)


def _same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def neg_inf_pad_into_maxpool(model) -> int:
    """PADV2(x, pads, -inf) feeding only a VALID MAX_POOL_2D -> that pool with SAME padding on x, where SAME pads
    exactly as the PADV2 did (ceil-mode pooling exported by onnx2tf: one row/column at the bottom/right). Exact: a SAME
    max pool ignores padded cells. XNNPACK does not take PADV2 (MTCNN ONet: 2 partitions with it)."""
    sg = model.subgraphs[0]
    users: dict[int, list] = {}
    for op in sg.operators:
        for i in op.inputs:
            users.setdefault(i, []).append(op)
    drop = []
    for op in sg.operators:
        pool = users.get(op.outputs[0], [None])
        if _opname(model, op) != "PADV2" or len(pool) != 1 or pool[0] is None or op.outputs[0] in sg.outputs:
            continue
        pool, opts = pool[0], getattr(pool[0], "builtinOptions", None)
        if _opname(model, pool) != "MAX_POOL_2D" or opts is None or opts.padding != schema.Padding.VALID:
            continue
        pads, value = _const(model, sg, op.inputs[1]), _const(model, sg, op.inputs[2])
        if pads is None or value is None or value.size != 1 or float(value[0]) > -1e30 or pads.size != 8:
            continue
        pads = pads.reshape(4, 2)
        h, w = (int(d) for d in sg.tensors[op.inputs[0]].shape[1:3])
        same = (_same_pads(h, opts.filterHeight, opts.strideH), _same_pads(w, opts.filterWidth, opts.strideW))
        if pads[0].any() or pads[3].any() or tuple(pads[1]) != same[0] or tuple(pads[2]) != same[1]:
            continue
        opts.padding = schema.Padding.SAME
        pool.inputs = [op.inputs[0], *list(pool.inputs)[1:]]
        drop.append(op)
    sg.operators = [op for op in sg.operators if all(op is not d for d in drop)]
    return len(drop)


def _opcode(model, builtin: int) -> int:
    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def fuse_prelu(model) -> int:
    """PReLU spelt out (MXNet exports): ADD(MAXIMUM(x, 0) or RELU(x), MUL(MINIMUM(x, 0), alpha)), any operand order ->
    one PRELU(x, alpha). XNNPACK takes PRELU in INT8; MAXIMUM/MINIMUM it leaves on the reference kernels, one
    partition cut each (MobileFaceNet-ArcFace: 33 of them). Exact: max(x,0) + a*min(x,0) is PReLU's definition."""
    sg = model.subgraphs[0]
    producer, uses = producers_and_uses(sg)

    def split(op, name):
        """(tensor, other operand) when op is `name` with one constant scalar 0 operand."""
        if op is None or _opname(model, op) != name:
            return None
        for k in (0, 1):
            c = _const(model, sg, op.inputs[k])
            if c is not None and c.size == 1 and float(c.reshape(-1)[0]) == 0.0:
                return op.inputs[1 - k]
        return None

    dead, fused = set(), 0
    prelu = None
    for op in sg.operators:
        if _opname(model, op) != "ADD" or getattr(op.builtinOptions, "fusedActivationFunction", 0):
            continue
        for a, b in ((0, 1), (1, 0)):
            mx, mul = producer.get(op.inputs[a]), producer.get(op.inputs[b])
            # TF's converter turns Maximum(x, 0) into RELU: both spell the positive part
            relu = mx is not None and _opname(model, mx) == "RELU"
            x = mx.inputs[0] if relu else split(mx, "MAXIMUM")
            if x is None or mul is None or _opname(model, mul) != "MUL":
                continue
            for k in (0, 1):
                mn, alpha = producer.get(mul.inputs[k]), mul.inputs[1 - k]
                if (
                    split(mn, "MINIMUM") == x
                    and _const(model, sg, alpha) is not None
                    and uses.get(mx.outputs[0]) == uses.get(mn.outputs[0]) == uses.get(mul.outputs[0]) == 1
                ):
                    prelu = _opcode(model, schema.BuiltinOperator.PRELU) if prelu is None else prelu
                    op.opcodeIndex, op.inputs = prelu, [x, alpha]
                    op.builtinOptionsType, op.builtinOptions = 0, None
                    dead.update({id(mx), id(mn), id(mul)})
                    fused += 1
                    break
            else:
                continue
            break
    sg.operators = [op for op in sg.operators if id(op) not in dead]
    return fused


def drop_unused_tensors(model) -> None:
    """Remove tensors no op or graph I/O refers to (left behind by folding), renumbering every reference."""
    sg = model.subgraphs[0]
    used = set(sg.inputs) | set(sg.outputs)
    for op in sg.operators:
        used.update(i for i in op.inputs if i >= 0)
        used.update(op.outputs)
    order = sorted(used)
    remap = {old: new for new, old in enumerate(order)}
    sg.tensors = [sg.tensors[i] for i in order]
    for op in sg.operators:
        op.inputs = [remap[i] if i >= 0 else i for i in op.inputs]
        op.outputs = [remap[i] for i in op.outputs]
    sg.inputs = [remap[i] for i in sg.inputs]
    sg.outputs = [remap[i] for i in sg.outputs]
    for sig in model.signatureDefs or []:
        for t in list(sig.inputs) + list(sig.outputs):
            t.tensorIndex = remap[t.tensorIndex]


def compact_buffers(data: bytes) -> bytes:
    """Drop buffers no tensor refers to (the fp32 copies left behind once weights are quantised)."""
    model = read_model(data)
    used = sorted({t.buffer for sg in model.subgraphs for t in sg.tensors} | {0})
    if len(used) == len(model.buffers):
        return data
    for buf in model.buffers:  # large models keep buffer bytes after the flatbuffer, addressed by offset
        if getattr(buf, "offset", 0) > 1:
            buf.data = np.frombuffer(data[buf.offset : buf.offset + buf.size], dtype=np.uint8)
            buf.offset = buf.size = 0
    remap = {old: new for new, old in enumerate(used)}
    model.buffers = [model.buffers[i] for i in used]
    for sg in model.subgraphs:
        for t in sg.tensors:
            t.buffer = remap[t.buffer]
    for m in model.metadata or []:
        m.buffer = remap.get(m.buffer, 0)
    return write_model(model)


def ensure_signature(model) -> None:
    if model.signatureDefs:
        return
    sg = model.subgraphs[0]

    def tmap(indices):
        out = []
        for i in indices:
            t = schema.TensorMapT()
            t.name = sg.tensors[i].name
            t.tensorIndex = int(i)
            out.append(t)
        return out

    sig = schema.SignatureDefT()
    sig.signatureKey = b"serving_default"
    sig.subgraphIndex = 0
    sig.inputs = tmap(sg.inputs)
    sig.outputs = tmap(sg.outputs)
    model.signatureDefs = [sig]


def prepare_for_quantizer(data: bytes, path: str = "model") -> tuple[bytes, dict]:
    model = read_model(data, path)
    folded = fold_fp16_weights(model)
    fused = fuse_activations(model)
    pads = neg_inf_pad_into_maxpool(model)
    prelus = fuse_prelu(model)
    drop_unused_tensors(model)
    normalise_opcodes(model)
    ensure_signature(model)
    return write_model(model), {
        "fp16_weights_folded": folded,
        "activations_fused": fused,
        "neg_inf_pads_into_maxpool": pads,
        "prelu_fused": prelus,
    }
