"""`edgekit models coral-report`: the per-op Edge TPU table for a .tflite, compared with a real compiler log (and, when
given, the compiled model) op by op."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from converters.targets import edgetpu_map as em
from converters.targets import edgetpu_ops as ops
from converters.tflite_surgery import read_model
from edge.errors import EdgekitError

_LOG_ROW = re.compile(r"^([A-Z][A-Z0-9_]*)\s+(\d+)\s+(\S.*?)\s*$")


def parse_log(text: str, where: str = "compiler log") -> Counter:
    """The operation table of an edgetpu_compiler log: (op, status) -> count."""
    rows: Counter = Counter()
    in_table = False
    for line in text.splitlines():
        if line.split()[:3] == ["Operator", "Count", "Status"]:
            in_table = True
            continue
        m = _LOG_ROW.match(line) if in_table else None
        if m:
            rows[(m.group(1), m.group(3))] += int(m.group(2))
    if not rows:
        raise EdgekitError(
            f"{where}: no 'Operator Count Status' table found",
            "pass the .log edgetpu_compiler writes next to the compiled model (edgetpu_compiler -s)",
        )
    return rows


def compare(ours: Counter, log: Counter) -> list[str]:
    """One line per (op, status) whose count differs."""
    out = []
    for key in sorted(set(ours) | set(log)):
        if ours.get(key, 0) != log.get(key, 0):
            out.append(f"{key[0]} '{key[1]}': report {ours.get(key, 0)}, compiler log {log.get(key, 0)}")
    return out


def compare_compiled(placements: list[em.Placement], compiled) -> list[str]:
    """Op by op against the compiled model: the ops it left on the CPU (named by their output tensors) vs ours."""
    sg = compiled.subgraphs[0]
    cpu_names = set()
    for op in sg.operators:
        if compiled.operatorCodes[op.opcodeIndex].customCode != b"edgetpu-custom-op":
            cpu_names.update(sg.tensors[o].name.decode() for o in op.outputs)
    out = []
    for p in placements:
        theirs = bool(cpu_names & set(p.outputs))
        if theirs == p.on_tpu:
            where = "the CPU" if theirs else "the TPU"
            out.append(
                f"op #{p.index} {p.op} ({p.outputs[0][:60]}): compiled model has it on {where}, report: {p.status}"
            )
    return out


def report(model_path: Path, log_path: Path | None = None, compiled_path: Path | None = None) -> tuple[list[str], int]:
    """Lines to print and the number of differences (0 without a log)."""
    model = read_model(Path(model_path).read_bytes(), str(model_path))
    compiled = em.compiled_by_edgetpu(model)
    if compiled:
        cpu = ", ".join(f"{n} {c}" for n, c in sorted(compiled["cpu_ops"].items())) or "none"
        return [
            (
                f"{model_path}: already compiled by edgetpu_compiler ({compiled['edgetpu_custom_ops']} "
                "edgetpu-custom-op, "
                f"{compiled['cpu_op_count']} ops on the CPU: {cpu}); it needs an Edge TPU to run (no CPU fallback for "
                "the custom op); report on the model it was compiled from"
            )
        ], 0
    placements = em.place(model)
    lines = [
        f"Edge TPU mapping of {model_path} as {ops.COMPILER} would do it (from the documented op list and rules)",
        "",
        f"{'Operator':30s} {'Count':>5s}  Status / why",
    ]
    for (op, status), n in sorted(em.table(placements).items()):
        whys = sorted({p.why for p in placements if p.op == op and p.status == status and p.why})
        why = f" ({whys[0]}{'; ...' if len(whys) > 1 else ''})" if whys else ""
        lines.append(f"{op:30s} {n:5d}  {status}{why}")
    on_tpu = sum(p.on_tpu for p in placements)
    lines += ["", f"ops on the Edge TPU: {on_tpu} of {len(placements)}; on the CPU: {len(placements) - on_tpu}"]
    for c in em.cuts(model, placements):
        lines.append(f"graph cut at op #{c.index} {c.op} -> {c.outputs[0][:70]}: {c.why}")
    for name, v in em.versions_too_new(model).items():
        lines.append(f"op version: {name} v{v['version']}: {v['verdict']}")
    differences = 0
    if compiled_path:
        twin = read_model(Path(compiled_path).read_bytes(), str(compiled_path))
        if not em.compiled_by_edgetpu(twin):
            raise EdgekitError(
                f"{compiled_path}: holds no edgetpu-custom-op", "pass the *_edgetpu.tflite the compiler wrote"
            )
        diff = compare_compiled(placements, twin)
        lines += ["", f"op by op against {compiled_path}: {len(diff)} ops placed differently"] + diff
        differences += len(diff)
    if log_path:
        diff = compare(em.table(placements), parse_log(Path(log_path).read_text(errors="replace"), str(log_path)))
        lines += ["", *diff, f"differences from the compiler log: {len(diff)}"]
        differences += len(diff)
    return lines, differences
