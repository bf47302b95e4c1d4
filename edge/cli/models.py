"""`edgekit models build|list`: the model zoo (cards in models/*.yaml, artifacts in the models directory)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from edge.cli.converters_extra import require_converters
from edge.paths import models_dir


@click.group()
def models():
    """Build and list the model zoo."""


@models.command()
@click.argument("names", nargs=-1)
@click.option("--target", type=click.Choice(["cpu", "coral", "jetson"]), default="cpu", show_default=True)
@click.option("--dir", "out_dir", type=click.Path(path_type=Path), help="models directory (default: $EDGEKIT_MODELS or the user cache)")
@click.option("--force", is_flag=True, help="rebuild even if unchanged")
def build(names, target, out_dir, force):
    """Fetch, convert, gate and store NAMES (default: every card in models/)."""
    require_converters()
    from converters.zoo import build as run

    out = out_dir or models_dir()
    for name, what in run(list(names) or None, target, out, force).items():
        click.echo(f"{name}: {what}")


@models.command(name="list")
@click.option("--dir", "out_dir", type=click.Path(path_type=Path))
def list_(out_dir):
    """Built models with their target, size, partitions and gate figures."""
    out = out_dir or models_dir()
    for card in sorted(Path(out).glob("*.card.json")):
        c = json.loads(card.read_text())
        p = c.get("partitions", {})
        click.echo(f"{card.name[:-10]:24s} {c['target']:6s} {c['task']:15s} partitions={p.get('partitions')} gate={'pass' if c.get('gate', {}).get('passed') else '?'}")


@models.command(name="coral-report")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--compiler-log", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="edgetpu_compiler's .log for this model: compared op by op")
@click.option("--compiled", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the *_edgetpu.tflite compiled from this model: placements compared op by op")
def coral_report(model, compiler_log, compiled):
    """Per-op Edge TPU table for MODEL (op, count, mapped or why not), where the graph is cut, op versions."""
    from converters.targets.edgetpu_report import report

    lines, _ = report(model, compiler_log, compiled)
    click.echo("\n".join(lines))
