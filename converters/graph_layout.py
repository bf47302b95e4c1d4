"""NCHW graphs (ONNX -> onnx-tf -> TF.js, e.g. NanoDet) re-laid out as NHWC.

onnx-tf wraps every NHWC-only TF op (Conv2D, MaxPool, ResizeBilinear) in a pair of Transposes and runs the rest (pads,
activations, concats) in NCHW. TFLite keeps them all (NanoDet: 76 TRANSPOSE ops, and INT8 XNNPACK refused the graph).
This pass holds every 4-D NCHW tensor in NHWC instead: wrapper Transposes become identities, layout-agnostic ops are
kept
with their constants/axes permuted, and a real Transpose is inserted only where an op needs the NCHW data itself
(a Reshape feeding an output head, say). The model input becomes NHWC."""

from __future__ import annotations

import numpy as np

TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]
_UNARY = {
    "Relu",
    "Relu6",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Identity",
    "Elu",
    "Selu",
    "Softplus",
    "Neg",
    "Abs",
    "Exp",
    "Sqrt",
    "Rsqrt",
    "Square",
}
_BINARY = {"Add", "AddV2", "Sub", "Mul", "Maximum", "Minimum", "RealDiv", "BiasAdd"}


def nchw_to_nhwc(graph_def, input_name: str):
    """Rewrite every 4-D NCHW tensor of an onnx-tf GraphDef to NHWC, node by node. One pass on purpose (~120 lines):
    how a node is rewritten depends on which of its inputs are already held NHWC (`held`, `alias`), state that
    splitting the pass would have to thread through every piece."""
    import tensorflow as tf
    from tensorflow.python.framework import tensor_util

    nodes = {n.name: n for n in graph_def.node}
    held: set[str] = set()  # tensors (node names, output 0) that are semantically NCHW but stored NHWC
    new_nodes = []
    stats = {"transposes_removed": 0, "transposes_inserted": 0}
    alias: dict[str, str] = {}  # node name -> name of the node that now produces its (held) value

    def const(name, value, dtype):
        n = tf.compat.v1.NodeDef(name=name, op="Const")
        n.attr["dtype"].type = dtype.as_datatype_enum
        n.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(np.asarray(value), dtype=dtype))
        new_nodes.append(n)
        return name

    def value(name):
        n = nodes.get(name.split(":")[0])
        return tensor_util.MakeNdarray(n.attr["value"].tensor) if n is not None and n.op == "Const" else None

    def src(name):
        base = name.split(":")[0].lstrip("^")
        return alias.get(base, base) + (name[len(base) :] if ":" in name else "")

    def materialize(name):
        """A held tensor, back in NCHW for an op that needs the real layout."""
        base = src(name)
        if name.split(":")[0] not in held:
            return base
        t = f"{name.split(':')[0]}/edgekit_to_nchw"
        if t not in {n.name for n in new_nodes}:
            perm = const(t + "/perm", TO_NCHW, tf.int32)
            n = tf.compat.v1.NodeDef(name=t, op="Transpose", input=[base, perm])
            n.attr["T"].type = tf.float32.as_datatype_enum
            n.attr["Tperm"].type = tf.int32.as_datatype_enum
            new_nodes.append(n)
            stats["transposes_inserted"] += 1
        return t

    def axis_nhwc(axis: int) -> int:
        return [0, 3, 1, 2][axis % 4]

    for node in graph_def.node:
        ins = [i for i in node.input if not i.startswith("^")]
        any_held = any(i.split(":")[0] in held for i in ins)
        n = tf.compat.v1.NodeDef()
        n.CopyFrom(node)
        if node.op == "Placeholder" and node.name == input_name.split(":")[0]:
            dims = [d.size for d in node.attr["shape"].shape.dim]
            if len(dims) == 4:
                del n.attr["shape"].shape.dim[:]
                for d in [dims[i] for i in TO_NHWC]:
                    n.attr["shape"].shape.dim.add(size=d)
                held.add(node.name)
            new_nodes.append(n)
            continue
        if node.op == "Transpose":
            perm = value(node.input[1])
            x = node.input[0].split(":")[0]
            if perm is not None and x in held and list(perm) == TO_NHWC:
                alias[node.name] = src(x)  # NCHW->NHWC of a tensor already stored NHWC: nothing to do
                stats["transposes_removed"] += 1
                continue
            if perm is not None and x not in held and list(perm) == TO_NCHW and _rank4(nodes, x):
                alias[node.name] = src(x)  # NHWC->NCHW: keep storing it NHWC, remember it is held
                held.add(node.name)
                stats["transposes_removed"] += 1
                continue
        if any_held and node.op in _UNARY and len(ins) == 1:
            n.input[0] = src(ins[0])
            held.add(node.name)
            new_nodes.append(n)
            continue
        if any_held and node.op in _BINARY and len(ins) == 2:
            ok = True
            new_inputs = []
            for i in ins:
                if i.split(":")[0] in held:
                    new_inputs.append(src(i))
                    continue
                c = value(i)
                if c is None:
                    ok = False
                    break
                if c.ndim == 4:
                    new_inputs.append(
                        const(f"{node.name}/edgekit_nhwc_const", c.transpose(TO_NHWC), tf.as_dtype(c.dtype))
                    )
                elif c.size == 1:
                    new_inputs.append(src(i))
                else:
                    ok = False
                    break
            if ok:
                del n.input[:]
                n.input.extend(new_inputs)
                held.add(node.name)
                new_nodes.append(n)
                continue
        if any_held and node.op in ("Pad", "PadV2", "MirrorPad") and ins[0].split(":")[0] in held:
            pads = value(ins[1])
            if pads is not None and pads.shape == (4, 2):
                n.input[0] = src(ins[0])
                n.input[1] = const(f"{node.name}/edgekit_nhwc_pads", pads[TO_NHWC], tf.as_dtype(pads.dtype))
                held.add(node.name)
                new_nodes.append(n)
                continue
        if any_held and node.op == "ConcatV2" and all(i.split(":")[0] in held for i in ins[:-1]):
            axis = value(ins[-1])
            if axis is not None:
                del n.input[:]
                n.input.extend(
                    [src(i) for i in ins[:-1]] + [const(f"{node.name}/edgekit_axis", axis_nhwc(int(axis)), tf.int32)]
                )
                held.add(node.name)
                new_nodes.append(n)
                continue
        # Anything else sees real NCHW data.
        for k, i in enumerate(node.input):
            if i.startswith("^"):
                continue
            n.input[k] = materialize(i) if i.split(":")[0] in held else src(i)
        new_nodes.append(n)
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    out.node.extend(new_nodes)
    return out, stats


def _rank4(nodes, name) -> bool:
    # Wrapper transposes in onnx-tf graphs follow NHWC-only ops; trust the op type rather than shape inference.
    n = nodes.get(name)
    return n is not None and n.op in {
        "Conv2D",
        "DepthwiseConv2dNative",
        "MaxPool",
        "AvgPool",
        "ResizeBilinear",
        "ResizeNearestNeighbor",
        "Add",
        "AddV2",
        "BiasAdd",
        "FusedBatchNormV3",
        "Relu",
        "LeakyRelu",
    }
