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
@click.option(
    "--dir",
    "out_dir",
    type=click.Path(path_type=Path),
    help="models directory (default: $EDGEKIT_MODELS or the user cache)",
)
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
        click.echo(
            f"{card.name[:-10]:24s} {c['target']:6s} {c['task']:15s} partitions={p.get('partitions')} "
            f"gate={'pass' if c.get('gate', {}).get('passed') else '?'}"
        )


def _range(value: str | None):
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(
            f"'{value}': expected LOW,HIGH, e.g. 0,1 or -1,1", param_hint="--input-range"
        ) from None
    return lo, hi


@models.command(name="import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", help="card name (default: from the file name)")
@click.option("--labels", type=click.Path(path_type=Path), help="label file, when the model carries none")
@click.option("--decoder", type=click.Choice(["yolo"]), help="decoder of a bare graph (no metadata or post-process op)")
@click.option("--input-range", "input_range", help="LOW,HIGH the pixels 0..255 map to, if the file cannot tell")
@click.option("--max-detections", type=int, help="cap on boxes per call (default: the exporter's; Ultralytics 300)")
@click.option("--score-threshold", type=float, help="decoder score floor")
@click.option(
    "--dir",
    "out_dir",
    type=click.Path(path_type=Path),
    help="models directory (default: $EDGEKIT_MODELS or the user cache)",
)
def import_(file, name, labels, decoder, input_range, max_detections, score_threshold, out_dir):
    """Bring your own detector FILE (.tflite): recognise it, validate it and write its card (no re-quantisation)."""
    from converters.importer import Options, import_model

    opts = Options(
        name=name,
        labels=labels,
        decoder=decoder,
        input_range=_range(input_range),
        max_detections=max_detections,
        score_threshold=score_threshold,
    )
    r = import_model(file, out_dir or models_dir(), opts)
    c = r.card
    click.echo(
        f"{c.name}: {r.family} detector, {len(c.labels)} classes, "
        f"input {c.preprocess.width}x{c.preprocess.height} {c.inputs[0].dtype}, "
        f"{c.quantization['kind']}, kept as is"
    )
    for note in r.notes:
        click.echo(f"  {note}")
    click.echo(f"wrote {r.card_path}")


@models.command(name="coral-report")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--compiler-log",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="edgetpu_compiler's .log for this model: compared op by op",
)
@click.option(
    "--compiled",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="the *_edgetpu.tflite compiled from this model: placements compared op by op",
)
def coral_report(model, compiler_log, compiled):
    """Per-op Edge TPU table for MODEL (op, count, mapped or why not), where the graph is cut, op versions."""
    from converters.targets.edgetpu_report import report

    lines, _ = report(model, compiler_log, compiled)
    click.echo("\n".join(lines))
