"""Shared by the graph formats (frozen graph, TF.js): GraphDef -> pruned, static-shaped concrete function -> TFLite."""

from __future__ import annotations

from converters.graph_rewrite import (
    avgpool_to_depthwise,
    fuse_clip_to_relu6,
    global_avgpool_to_mean,
    neg_inf_pad_to_edge_pad,
    prune,
    split_v_to_slices,
    tf_prelu_to_max_min,
)
from converters.sources import FloatModel
from edge.errors import EdgekitError


def _tensor(name: str) -> str:
    return name if ":" in name else name + ":0"


def from_graph_def(
    graph_def, inputs: list[str], outputs: list[str], where: str, static_shape=None, nchw_to_nhwc: bool = False
) -> FloatModel:
    """One function on purpose (~70 lines): the checks, the pruned wrapper and the converter run share the graph's
    names and must fail with the same `where`."""
    import tensorflow as tf

    names = {n.name for n in graph_def.node}
    for kind, wanted in (("input", inputs), ("output", outputs)):
        missing = [t for t in wanted if t.split(":")[0] not in names]
        if missing:
            close = sorted(n for n in names if any(m.split("/")[0] in n for m in missing))[:5]
            raise EdgekitError(
                f"{where}: {kind} tensor(s) {missing} not in the graph" + (f" (similar: {close})" if close else ""),
                f"fix source.{kind}s in the card",
            )
    if len(inputs) != 1:
        raise EdgekitError(
            f"{where}: edgekit models take exactly one input, the card names {len(inputs)}", "fix source.inputs"
        )
    graph_def = prune(graph_def, outputs)
    relayout = {}
    if nchw_to_nhwc:
        from converters.graph_layout import nchw_to_nhwc as relay

        graph_def, relayout = relay(graph_def, inputs[0])
        graph_def = prune(graph_def, outputs)
    graph_def, fused = fuse_clip_to_relu6(graph_def)
    graph_def, splits = split_v_to_slices(graph_def)
    graph_def, pads = neg_inf_pad_to_edge_pad(graph_def)
    graph_def, prelus = tf_prelu_to_max_min(graph_def)
    for node in graph_def.node:  # batch 1, static: what TFLite delegates and the Edge TPU want
        if node.name == inputs[0].split(":")[0] and node.op == "Placeholder":
            dims = node.attr["shape"].shape.dim
            if static_shape is not None:
                del dims[:]
                for d in static_shape:
                    dims.add(size=d)
            elif dims and dims[0].size in (-1, 0):
                dims[0].size = 1
            if any(d.size < 0 for d in dims):
                raise EdgekitError(
                    f"{where}: input {inputs[0]} has unknown dimensions {[d.size for d in dims]}",
                    "the card's preprocess width/height fix them: set them",
                )

    graph_def, pools = global_avgpool_to_mean(graph_def)
    graph_def, local_pools = avgpool_to_depthwise(graph_def)

    def imports():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(imports, [])
    fn = wrapped.prune(
        feeds=[wrapped.graph.get_tensor_by_name(_tensor(inputs[0]))],
        fetches=[wrapped.graph.get_tensor_by_name(_tensor(o)) for o in outputs],
    )

    def converter():
        return tf.lite.TFLiteConverter.from_concrete_functions([fn], wrapped)

    flat = converter().convert()
    notes = {
        k: v
        for k, v in (
            ("relu6_fused_from_clip", fused),
            ("global_avgpool_to_mean", pools),
            ("avgpool_to_depthwise", local_pools),
            ("split_v_to_slices", splits),
            ("neg_inf_pad_to_edge_pad", pads),
            *relayout.items(),
        )
        if v
    }
    if prelus:
        # TF's converter keeps PReLU as MAXIMUM/MINIMUM/MUL/ADD (one XNNPACK cut each in INT8): fuse them to PRELU in
        # the float .tflite and quantise that with ai-edge-quantizer, as for .tflite sources.
        from converters.tflite_surgery import prepare_for_quantizer

        flat, extra = prepare_for_quantizer(flat, where)
        notes.update(extra, prepared=flat)
        converter = None
    return FloatModel(
        tflite=flat,
        output_names=[o.split(":")[0] for o in outputs],
        input_name=inputs[0].split(":")[0],
        tf_converter=converter,
        notes=notes,
        input_layout="NHWC" if nchw_to_nhwc else None,
    )
