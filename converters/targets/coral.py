"""Google Coral Edge TPU: full-integer model (no float tensors), uint8/int8 I/O, static shapes, batch 1.

`edgetpu_compiler` (Linux x86-64 only, from Coral's apt repository) is run when it is on PATH. Without it, the
compile-ready model is written and the report says, from the documented Edge TPU op list, which ops would fall back to
the CPU and where the compiler would cut the graph (edgetpu_map: one TPU subgraph; whatever depends on an unmappable op
runs on the CPU), checked against a real compiler-16 log (tests/test_coral_report.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ai_edge_litert import schema_py_generated as schema

from converters.targets import edgetpu_map, edgetpu_ops
from converters.targets.coral_rewrites import rewrite  # noqa: F401  (the target's rewrite step)
from converters.tflite_surgery import op_names, read_model
from edge.card import sha256_file

IO_DTYPE = "uint8"

_TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


def check(tflite: bytes) -> dict:
    model = read_model(tflite)
    sg = model.subgraphs[0]
    names = op_names(model)
    float_tensors = [
        t.name.decode() for t in sg.tensors if t.type in (schema.TensorType.FLOAT32, schema.TensorType.FLOAT16)
    ]
    dynamic = [
        t.name.decode()
        for t in sg.tensors
        if t.shapeSignature is not None and any(int(d) < 0 for d in t.shapeSignature)
    ]
    io_types = {
        t.name.decode(): _TYPE_NAMES[t.type] for t in (sg.tensors[i] for i in list(sg.inputs) + list(sg.outputs))
    }
    batch = [int(sg.tensors[i].shape[0]) for i in sg.inputs]
    placements = edgetpu_map.place(model)
    cpu = [p for p in placements if not p.on_tpu]
    return {
        "full_integer": not float_tensors,
        "float_tensors": float_tensors[:20],
        "static_shapes": not dynamic,
        "batch": batch,
        "io_types": io_types,
        "op_versions_too_new": edgetpu_map.versions_too_new(model),
        "ops": len(names),
        "ops_unsupported": sorted({p.op for p in cpu if p.status != edgetpu_ops.SUBGRAPH}),
        "first_unsupported_op_index": cpu[0].index if cpu else None,
        "graph_cuts": [f"#{c.index} {c.op}: {c.why}" for c in edgetpu_map.cuts(model, placements)],
        "ops_on_tpu_estimate": len(placements) - len(cpu),
        "ops_on_cpu_estimate": len(cpu),
        "estimate": f"{edgetpu_ops.COMPILER} rules (converters/targets/edgetpu_ops.py); `edgekit models coral-report`",
    }


def compile_if_available(int8_path: Path, out_dir: Path) -> dict:
    exe = shutil.which("edgetpu_compiler")
    if not exe:
        return {
            "edgetpu_compiler": "not found on PATH: model written compile-ready; "
            "run `edgetpu_compiler -s MODEL` on a Linux x86-64 host"
        }
    r = subprocess.run([exe, "-s", "-o", str(out_dir), str(int8_path)], check=False, capture_output=True, text=True)
    text = r.stdout + r.stderr
    on_tpu = re.search(r"Number of operations that will run on Edge TPU:\s*(\d+)", text)
    on_cpu = re.search(r"Number of operations that will run on CPU:\s*(\d+)", text)
    report = {"edgetpu_compiler": "ok" if r.returncode == 0 else f"failed ({r.returncode})", "log_tail": text[-2000:]}
    if on_tpu and on_cpu:
        t, c = int(on_tpu.group(1)), int(on_cpu.group(1))
        report["share_on_tpu"] = round(t / max(t + c, 1), 4)
    compiled = out_dir / f"{int8_path.stem}_edgetpu.tflite"
    if r.returncode == 0 and compiled.is_file():
        report["compiled"] = compiled.name
    return report


def finalize(int8_path: Path, float_model, calib, out_dir: Path, name: str) -> dict:
    """The Edge TPU report, and the compiler's output named in the card (`compiled`) for the device to load."""
    report = check(int8_path.read_bytes())
    report.update(compile_if_available(int8_path, out_dir))
    out = {"coral": report}
    if "compiled" in report:
        path = out_dir / report["compiled"]
        out["compiled"] = {"edgetpu": {"tflite": path.name, "sha256": sha256_file(path)}}
    return out


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
        refused = {k: v["version"] for k, v in r["op_versions_too_new"].items() if v["verdict"].startswith("refused")}
        if refused:
            out.append(f"coral: op versions edgetpu_compiler 16 refuses (the whole model): {refused}")
    return out
