"""Google Coral Edge TPU: full-integer model (no float tensors), uint8/int8 I/O, static shapes, batch 1.

`edgetpu_compiler` (Linux x86-64 only, from Coral's apt repository) is run when it is on PATH. Without it, the
compile-ready model is written and the report says, from the documented Edge TPU op list, which ops would fall back to
the CPU and where the compiler would cut the graph (it maps ops up to the first unsupported one; the rest run on CPU)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ai_edge_litert import schema_py_generated as schema

from converters.tflite_surgery import op_names, read_model

IO_DTYPE = "uint8"

# Operations the Edge TPU supports (Coral docs, "TensorFlow models on the Edge TPU", supported operations).
EDGETPU_OPS = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS", "FULLY_CONNECTED",
    "L2_NORMALIZATION", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PACK", "PAD", "PRELU",
    "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SQUEEZE", "STRIDED_SLICE",
    "SUB", "SUM", "SQUARED_DIFFERENCE", "TANH", "TRANSPOSE", "TRANSPOSE_CONV", "HARD_SWISH",
}
# Newest op versions Edge TPU compiler 16 is known to accept (reported: CONV_2D v6 rejected). Others: not known here.
KNOWN_MAX_VERSION = {"CONV_2D": 5}

_TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


def check(tflite: bytes) -> dict:
    model = read_model(tflite)
    sg = model.subgraphs[0]
    names = op_names(model)
    float_tensors = [t.name.decode() for t in sg.tensors if t.type in (schema.TensorType.FLOAT32, schema.TensorType.FLOAT16)]
    dynamic = [t.name.decode() for t in sg.tensors if t.shapeSignature is not None and any(int(d) < 0 for d in t.shapeSignature)]
    io_types = {t.name.decode(): _TYPE_NAMES[t.type] for t in (sg.tensors[i] for i in list(sg.inputs) + list(sg.outputs))}
    batch = [int(sg.tensors[i].shape[0]) for i in sg.inputs]
    versions = {}
    for op in sg.operators:
        code = model.operatorCodes[op.opcodeIndex]
        n = names[sg.operators.index(op)]
        versions[n] = max(versions.get(n, 0), code.version)
    too_new = {n: v for n, v in versions.items() if n in KNOWN_MAX_VERSION and v > KNOWN_MAX_VERSION[n]}
    unsupported = [(i, n) for i, n in enumerate(names) if n not in EDGETPU_OPS]
    cut = unsupported[0][0] if unsupported else None
    return {
        "full_integer": not float_tensors,
        "float_tensors": float_tensors[:20],
        "static_shapes": not dynamic,
        "batch": batch,
        "io_types": io_types,
        "op_versions": versions,
        "op_versions_too_new": too_new,
        "ops": len(names),
        "ops_unsupported": sorted({n for _, n in unsupported}),
        "first_unsupported_op_index": cut,
        "ops_on_tpu_estimate": len(names) if cut is None else cut,
        "ops_on_cpu_estimate": 0 if cut is None else len(names) - cut,
    }


def compile_if_available(int8_path: Path, out_dir: Path) -> dict:
    exe = shutil.which("edgetpu_compiler")
    if not exe:
        return {"edgetpu_compiler": "not found on PATH: model written compile-ready; run `edgetpu_compiler -s MODEL` on a Linux x86-64 host"}
    r = subprocess.run([exe, "-s", "-o", str(out_dir), str(int8_path)], capture_output=True, text=True)
    text = r.stdout + r.stderr
    on_tpu = re.search(r"Number of operations that will run on Edge TPU:\s*(\d+)", text)
    on_cpu = re.search(r"Number of operations that will run on CPU:\s*(\d+)", text)
    report = {"edgetpu_compiler": "ok" if r.returncode == 0 else f"failed ({r.returncode})", "log_tail": text[-2000:]}
    if on_tpu and on_cpu:
        t, c = int(on_tpu.group(1)), int(on_cpu.group(1))
        report["share_on_tpu"] = round(t / max(t + c, 1), 4)
    return report


def finalize(int8_path: Path, float_model, calib, out_dir: Path, name: str) -> dict:
    report = check(int8_path.read_bytes())
    report.update(compile_if_available(int8_path, out_dir))
    return {"coral": report}


def problems(report: dict) -> list[str]:
    r = report["coral"]
    out = []
    if not r["full_integer"]:
        out.append(f"coral: float tensors remain: {r['float_tensors'][:5]}")
    if not r["static_shapes"]:
        out.append("coral: dynamic shapes remain")
    if any(b != 1 for b in r["batch"]):
        out.append(f"coral: batch must be 1, is {r['batch']}")
    if r["op_versions_too_new"]:
        out.append(f"coral: op versions newer than edgetpu_compiler 16 accepts: {r['op_versions_too_new']}")
    return out
