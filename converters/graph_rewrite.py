"""GraphDef clean-ups that let the TFLite converter fuse activations into convolutions.

Keras' `ReLU(max_value=6)` exported through TF.js arrives as Relu -> Minimum(6) -> Maximum(0). The converter fuses the
Relu into the convolution and leaves MINIMUM/MAXIMUM behind; in INT8 those are not taken by XNNPACK and split the graph
(HSE FaceRes: 28 partitions, 89 ms vs 36 ms float). Rewritten to one Relu6, the converter fuses it into the conv."""

from __future__ import annotations

import numpy as np


def _const_value(node):
    from tensorflow.python.framework import tensor_util

    if node is None or node.op != "Const":
        return None
    return tensor_util.MakeNdarray(node.attr["value"].tensor)


def _src(name: str) -> str:
    return name.split(":")[0].lstrip("^")


def fuse_clip_to_relu6(graph_def):
    """Replace Maximum(Minimum(Relu?(x), 6), 0) and Minimum(Maximum(x, 0), 6) by Relu6(x). Returns (graph_def,
    count)."""
    nodes = {n.name: n for n in graph_def.node}
    count = 0

    def scalar_input(node, value):
        for i, name in enumerate(node.input):
            c = _const_value(nodes.get(_src(name)))
            if c is not None and c.size == 1 and float(c.reshape(-1)[0]) == value:
                return i
        return None

    for outer in graph_def.node:
        if outer.op not in ("Maximum", "Minimum"):
            continue
        inner_op, outer_val, inner_val = ("Minimum", 0.0, 6.0) if outer.op == "Maximum" else ("Maximum", 6.0, 0.0)
        k = scalar_input(outer, outer_val)
        if k is None:
            continue
        inner = nodes.get(_src(outer.input[1 - k]))
        if inner is None or inner.op != inner_op:
            continue
        j = scalar_input(inner, inner_val)
        if j is None:
            continue
        x = inner.input[1 - j]
        if nodes.get(_src(x)) is not None and nodes[_src(x)].op == "Relu":
            x = nodes[_src(x)].input[0]  # Relu then clip(0, 6) is Relu6
        dtype = outer.attr["T"].type
        outer.op = "Relu6"
        del outer.input[:]
        outer.input.append(x)
        for key in list(outer.attr.keys()):
            del outer.attr[key]
        outer.attr["T"].type = dtype
        count += 1
    return graph_def, count


def global_avgpool_to_mean(graph_def):
    """AvgPool whose window covers its whole (static) input -> Mean over H, W. XNNPACK takes INT8 MEAN but not this
    AVERAGE_POOL_2D (FaceNet's final 3x3 pool left a second partition). Needs static input shapes."""
    import tensorflow as tf
    from tensorflow.core.framework import attr_value_pb2

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    count = 0
    existing = {n.name for n in graph_def.node}
    extra = []
    for node in graph_def.node:
        if (
            node.op != "AvgPool"
            or node.attr["padding"].s != b"VALID"
            or node.attr["data_format"].s not in (b"", b"NHWC")
        ):
            continue
        shape = graph.get_tensor_by_name(node.input[0] + ":0" if ":" not in node.input[0] else node.input[0]).shape
        k = list(node.attr["ksize"].list.i)
        if shape.rank != 4 or shape[1] is None or [1, shape[1], shape[2], 1] != k:
            continue
        axes = node.name + "/edgekit_mean_axes"
        if axes not in existing:
            extra.append(_int_const(axes, [1, 2]))
        dtype = node.attr["T"].type
        node.op = "Mean"
        node.input.append(axes)
        for key in list(node.attr.keys()):
            del node.attr[key]
        node.attr["T"].type = dtype
        node.attr["Tidx"].type = tf.int32.as_datatype_enum
        node.attr["keep_dims"].CopyFrom(attr_value_pb2.AttrValue(b=True))
        count += 1
    graph_def.node.extend(extra)
    return graph_def, count


def avgpool_to_depthwise(graph_def):
    """Non-global AvgPool with VALID padding -> DepthwiseConv2dNative with a constant 1/(kh*kw) kernel, same window and
    strides: the same average (exact for power-of-two windows such as 2x2), but a conv XNNPACK takes in INT8, where it
    leaves AVERAGE_POOL_2D on the reference kernels (face-api's dlib ResNet: 4 pools, 5 partitions). SAME-padded pools
    average over fewer cells at the border, so they are left alone. Run after global_avgpool_to_mean."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    count, extra = 0, []
    for node in graph_def.node:
        nhwc = node.attr["data_format"].s in (b"", b"NHWC")
        if node.op != "AvgPool" or node.attr["padding"].s != b"VALID" or not nhwc:
            continue
        shape = graph.get_tensor_by_name(node.input[0] + ":0" if ":" not in node.input[0] else node.input[0]).shape
        k, strides = list(node.attr["ksize"].list.i), list(node.attr["strides"].list.i)
        if shape.rank != 4 or shape[3] is None or k[0] != 1 or k[3] != 1:
            continue
        kernel = node.name + "/edgekit_avg_kernel"
        const = tf.compat.v1.NodeDef(name=kernel, op="Const")
        const.attr["dtype"].type = tf.float32.as_datatype_enum
        weights = np.full((k[1], k[2], int(shape[3]), 1), 1.0 / (k[1] * k[2]), np.float32)
        const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights))
        extra.append(const)
        node.op = "DepthwiseConv2dNative"
        node.input.append(kernel)
        del node.attr["ksize"]
        node.attr["strides"].list.i[:] = strides
        node.attr["dilations"].list.i[:] = [1, 1, 1, 1]
        count += 1
    graph_def.node.extend(extra)
    return graph_def, count


def tf_prelu_to_max_min(graph_def):
    """PReLU as TF.js/Keras exports spell it, Relu(x) + alpha * (x - Abs(x)) * 0.5 (or with the 0.5 folded into
    alpha, as human-models' MobileFaceNet has it), -> Maximum(x, 0) + 2a * Minimum(x, 0) (the same values:
    x - |x| = 2 min(x, 0)), the spelling that fuse_prelu turns into one PRELU in the float .tflite. The same sum on
    a ReLU's output, r + a * (r - |r|), is r itself (r >= 0) and becomes Identity(r): the TF.js converter left 16
    of those in that MobileFaceNet after fusing a ReLU into its depthwise convs. Returns (graph_def, count)."""
    nodes = {n.name: n for n in graph_def.node}

    def node(name):
        return nodes.get(_src(name))

    def scaled_sub(mul):
        """mul = (x - |x|) * a, or a * (x - |x|) * 0.5: (the Sub, a as it multiplies x - |x|), else None."""
        if mul is None or mul.op != "Mul" or len(mul.input) != 2:
            return None
        for k in (0, 1):
            a, other = _const_value(node(mul.input[k])), node(mul.input[1 - k])
            if a is None or other is None:
                continue
            if other.op == "Sub":
                return other, a
            if other.op == "Mul" and a.size == 1:  # the Keras spelling's trailing * 0.5
                inner = scaled_sub(other)
                if inner is not None:
                    return inner[0], inner[1] * a
        return None

    def abs_of(sub, x):
        absn = node(sub.input[1])
        same = _src(sub.input[0]) == _src(x)
        return same and absn is not None and absn.op == "Abs" and _src(absn.input[0]) == _src(x)

    def reset(n, op, inputs, dtype):
        n.op = op
        del n.input[:]
        n.input.extend(inputs)
        for key in list(n.attr.keys()):
            del n.attr[key]
        n.attr["T"].type = dtype

    zero, count = None, 0
    for add in list(graph_def.node):
        if add.op not in ("Add", "AddV2") or len(add.input) != 2:
            continue
        for r, m in ((0, 1), (1, 0)):
            found = scaled_sub(node(add.input[m]))
            first = node(add.input[r])
            if found is None or first is None:
                continue
            (sub, alpha), dtype = found, add.attr["T"].type
            if first.op == "Relu" and abs_of(sub, first.input[0]):  # Relu(x) + a (x - |x|)
                x = first.input[0]
                if zero is None:
                    zero = _float_const(add.name + "/edgekit_prelu_zero", 0.0)
                    graph_def.node.append(zero)
                slope = _float_const(add.name + "/edgekit_prelu_alpha", 2 * alpha)
                graph_def.node.append(slope)
                minimum = node(add.input[m])  # the Mul becomes Minimum(x, 0) * 2a; the Sub and Abs fall away
                reset(first, "Maximum", [x, zero.name], dtype)
                reset(sub, "Minimum", [x, zero.name], dtype)
                reset(minimum, "Mul", [sub.name, slope.name], dtype)
            elif first.op == "Relu" and abs_of(sub, add.input[r]):  # r + a (r - |r|) with r = Relu(..) >= 0
                reset(add, "Identity", [add.input[r]], dtype)
            else:
                continue
            count += 1
            break
    return graph_def, count


def _float_const(name: str, value):
    import tensorflow as tf
    from tensorflow.core.framework import node_def_pb2

    node = node_def_pb2.NodeDef(name=name, op="Const")
    node.attr["dtype"].type = tf.float32.as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.asarray(value, np.float32)))
    return node


def _int_const(name: str, values: list[int]):
    import tensorflow as tf
    from tensorflow.core.framework import node_def_pb2

    node = node_def_pb2.NodeDef(name=name, op="Const")
    node.attr["dtype"].type = tf.int32.as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.asarray(values, np.int32)))
    return node


def prune(graph_def, outputs: list[str]):
    from tensorflow.compat.v1 import graph_util

    return graph_util.extract_sub_graph(graph_def, [_src(o) for o in outputs])


def _node(op: str, name: str, inputs: list[str], **attrs):
    import tensorflow as tf

    n = tf.compat.v1.NodeDef(name=name, op=op, input=inputs)
    for k, v in attrs.items():
        if isinstance(v, tf.dtypes.DType):
            n.attr[k].type = v.as_datatype_enum
        elif isinstance(v, bool):
            n.attr[k].b = v
        elif isinstance(v, int):
            n.attr[k].i = v
    return n


def _slice(name: str, x: str, axis: int, start: int, stop: int | None, rank: int = 4):
    """x[..., start:stop, ...] on one axis as a StridedSlice (XNNPACK takes it; SPLIT_V it does not)."""
    import tensorflow as tf

    others = sum(1 << i for i in range(rank) if i != axis)
    begin, end = [0] * rank, [0] * rank
    begin[axis] = start
    end[axis] = stop or 0
    consts = [_int_const(f"{name}/{k}", v) for k, v in (("begin", begin), ("end", end), ("strides", [1] * rank))]
    node = _node(
        "StridedSlice",
        name,
        [c.name for c in consts],
        T=tf.float32,
        Index=tf.int32,
        begin_mask=others,
        end_mask=others | ((1 << axis) if stop is None else 0),
    )
    return consts + [node]


def split_v_to_slices(graph_def):
    """SplitV with constant sizes and axis -> one StridedSlice per output (consumers rewired)."""
    from tensorflow.python.framework import tensor_util

    nodes = {n.name: n for n in graph_def.node}
    rename, extra, drop = {}, [], set()
    for n in graph_def.node:
        if n.op != "SplitV":
            continue
        sizes, axis = (nodes.get(_src(i)) for i in n.input[1:3])
        if sizes is None or axis is None or sizes.op != "Const" or axis.op != "Const":
            continue
        sizes = tensor_util.MakeNdarray(sizes.attr["value"].tensor).tolist()
        axis = int(tensor_util.MakeNdarray(axis.attr["value"].tensor)) % 4
        if -1 in sizes:
            continue
        start = 0
        for k, size in enumerate(sizes):
            name = f"{n.name}/edgekit_slice_{k}"
            extra += _slice(name, n.input[0], axis, start, start + size)
            extra[-1].input.insert(0, n.input[0])
            rename[f"{n.name}:{k}"] = name
            if k == 0:
                rename[n.name] = name
            start += size
        drop.add(n.name)
    for n in graph_def.node:
        for k, i in enumerate(n.input):
            if i in rename:
                n.input[k] = rename[i]
    kept = [n for n in graph_def.node if n.name not in drop]
    del graph_def.node[:]
    graph_def.node.extend(kept + extra)
    return graph_def, len(drop)


def neg_inf_pad_to_edge_pad(graph_def):
    """PadV2(x, pads <= 1, value -inf) feeding only MaxPools -> replicate the edge rows/columns instead (Slice+Concat).
    Exact for max pooling with windows of 2 or more: a window that covers a padded cell also covers the edge cell it
    copies. XNNPACK takes neither PADV2 nor, in INT8, the -inf range it gives the tensor (the graph failed to
    prepare)."""
    import tensorflow as tf
    from tensorflow.python.framework import tensor_util

    nodes = {n.name: n for n in graph_def.node}
    consumers: dict[str, list] = {}
    for n in graph_def.node:
        for i in n.input:
            consumers.setdefault(_src(i), []).append(n)
    extra, drop, count = [], set(), 0
    for n in graph_def.node:
        if n.op != "PadV2":
            continue
        pads_node, value_node = nodes.get(_src(n.input[1])), nodes.get(_src(n.input[2]))
        if pads_node is None or value_node is None or pads_node.op != "Const" or value_node.op != "Const":
            continue
        pads = tensor_util.MakeNdarray(pads_node.attr["value"].tensor)
        value = float(tensor_util.MakeNdarray(value_node.attr["value"].tensor))
        users = consumers.get(n.name, [])
        if (
            value > -1e30
            or pads.shape != (4, 2)
            or pads.max() > 1
            or pads[[0, 3]].any()
            or not users
            or any(u.op != "MaxPool" or u.attr["padding"].s != b"VALID" for u in users)
        ):
            continue
        x = n.input[0]
        for axis in (1, 2):
            for side in (0, 1):
                if pads[axis, side]:
                    edge = f"{n.name}/edgekit_edge_{axis}{side}"
                    extra += _slice(edge, x, axis, 0 if side == 0 else -1, 1 if side == 0 else None)
                    extra[-1].input.insert(0, x)
                    cat = f"{n.name}/edgekit_cat_{axis}{side}"
                    ax = _int_const(cat + "/axis", axis)
                    extra += [
                        ax,
                        _node(
                            "ConcatV2",
                            cat,
                            [edge, x, ax.name] if side == 0 else [x, edge, ax.name],
                            T=tf.float32,
                            N=2,
                            Tidx=tf.int32,
                        ),
                    ]
                    x = cat
        for u in users:
            for k, i in enumerate(u.input):
                if _src(i) == n.name:
                    u.input[k] = x
        drop.add(n.name)
        count += 1
    kept = [n for n in graph_def.node if n.name not in drop]
    del graph_def.node[:]
    graph_def.node.extend(kept + extra)
    return graph_def, count
