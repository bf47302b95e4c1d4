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
    """Replace Maximum(Minimum(Relu?(x), 6), 0) and Minimum(Maximum(x, 0), 6) by Relu6(x). Returns (graph_def, count)."""
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
        if node.op != "AvgPool" or node.attr["padding"].s != b"VALID" or node.attr["data_format"].s not in (b"", b"NHWC"):
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
