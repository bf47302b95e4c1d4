"""`edgekit bench model NAME...`: float vs INT8 latency (median, p95) at 1 and 2 threads, partitions, size.

Both builds are timed in the same run, interleaved, and the INT8/float ratio is the figure to quote: this machine is
shared and its absolute timings drift. An imported model (`edgekit models import`) has no float build: it is timed
alone, and peers are compared by naming them in the same run."""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from edge.card import load_card
from edge.errors import EdgekitError
from edge.paths import models_dir
from edge.runtime import CardModel


def _time(model: CardModel, x: np.ndarray, runs: int) -> np.ndarray:
    model.run(x)  # warm-up: first invoke allocates and packs weights
    out = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter()
        model.run(x)
        out[i] = time.perf_counter() - t
    return out * 1000


def bench_one(name: str, folder: Path, threads: int, runs: int, rounds: int = 3) -> dict:
    builds = {"float": folder / f"{name}.float.card.json", "int8": folder / f"{name}.card.json"}
    builds = {k: p for k, p in builds.items() if k == "int8" or p.is_file()}  # imported models: no float build
    cards = {k: load_card(p) for k, p in builds.items()}
    q, f = cards["int8"], cards.get("float", cards["int8"])
    if f.task != q.task or f.decoder.name != q.decoder.name:  # another model's card: it would fail deep in a run
        raise EdgekitError(
            f"model {name}: {builds['int8'].name} is a {q.task} ({q.decoder.name}), "
            f"{builds['float'].name} a {f.task} ({f.decoder.name}): not two builds of one model",
            f"rebuild both with `edgekit models build {name}`",
        )
    models = {k: CardModel(card, threads=threads) for k, card in cards.items()}
    rng = np.random.default_rng(0)
    # timing only: values do not change cost; each build gets its own input shape
    xs = {k: rng.uniform(0, 1, m.input_shape).astype(np.float32) for k, m in models.items()}
    samples = {k: [] for k in models}
    for _ in range(rounds):  # interleave so both see the same machine load
        for k, m in models.items():
            samples[k].append(_time(m, xs[k], runs))
    out = {}
    for k, m in models.items():
        s = np.concatenate(samples[k])
        rep = m.report()
        out[k] = {
            "median_ms": float(np.median(s)),
            "p95_ms": float(np.percentile(s, 95)),
            "partitions": rep.partitions,
            "ops": rep.ops,
            "delegated": rep.delegated_ops,
            "size_kb": m.card.path.stat().st_size / 1024,
        }
    out["ratio"] = out["int8"]["median_ms"] / out["float"]["median_ms"] if "float" in out else None
    return out


@click.command()
@click.argument("names", nargs=-1)
@click.option("--dir", "folder", type=click.Path(path_type=Path), help="models directory (default: the zoo)")
@click.option("--runs", default=30, show_default=True, help="timed invocations per round (3 rounds)")
@click.option("--threads", "thread_counts", default="1,2", show_default=True)
def command(names, folder, runs, thread_counts):
    """Float vs INT8 latency of built zoo models (default: all)."""
    folder = folder or models_dir()
    names = names or sorted(
        p.name[: -len(".card.json")]
        for p in Path(folder).glob("*.card.json")
        if not p.name.endswith(".float.card.json")
    )
    click.echo(
        f"{'model':16s} {'thr':>3s} {'float ms (p50/p95)':>20s} {'int8 ms (p50/p95)':>20s} {'int8/float':>10s} "
        f"{'partitions f/i':>14s} {'size KB f/i':>14s}"
    )
    for name in names:
        for threads in (int(t) for t in thread_counts.split(",")):
            r = bench_one(name, folder, threads, runs)
            q, f = r["int8"], r.get("float")
            if f is None:  # an imported model: no float build
                click.echo(
                    f"{name:16s} {threads:3d} {'-':>20s}  {q['median_ms']:9.2f}/{q['p95_ms']:<9.2f} {'-':>10s} "
                    f"{'-':>6s}/{q['partitions']:<6d} {'-':>7s}/{q['size_kb']:<6.0f}"
                )
                continue
            click.echo(
                f"{name:16s} {threads:3d} {f['median_ms']:9.2f}/{f['p95_ms']:<9.2f}  "
                f"{q['median_ms']:9.2f}/{q['p95_ms']:<9.2f} "
                f"{r['ratio']:10.2f} {f['partitions']:>6d}/{q['partitions']:<6d} "
                f"{f['size_kb']:7.0f}/{q['size_kb']:<6.0f}"
            )
