"""`edgekit convert`: one source model -> INT8 TFLite + card for a target (workstation; needs edgekit[convert])."""

from __future__ import annotations

from pathlib import Path

import click

from edge.cli.converters_extra import require_converters


def parse_drops(values: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for v in values:
        key, sep, num = v.partition("=")
        try:
            out[key.strip()] = float(num)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(
                f"'{v}': expected METRIC=VALUE, e.g. verification_accuracy=0.005", param_hint="--max-drop"
            )
    return out


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--card", "card_path", required=True, type=click.Path(path_type=Path), help="models/NAME.yaml")
@click.option("--calib", "calib", multiple=True, help="calibration image folder(s); default: the card's")
@click.option("--target", type=click.Choice(["cpu", "coral", "jetson"]), default="cpu", show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("out"), show_default=True)
@click.option(
    "--max-drop", "max_drop", multiple=True, help="METRIC=VALUE, e.g. verification_accuracy=0.005, recall=0.1"
)
@click.option("--force", is_flag=True, help="accept fewer calibration images than the card's minimum")
@click.option("--detector", type=click.Path(path_type=Path), help="face detector card for embedders' face crops")
@click.option("--threads", default=1, show_default=True)
def convert(source, card_path, calib, target, out_dir, max_drop, force, detector, threads):
    """Quantise SOURCE (Keras, SavedModel, frozen .pb, TF.js model.json, float .tflite, ONNX, PyTorch) to INT8 for
    TARGET."""
    require_converters()
    from converters.convert import convert as run
    from converters.face_crop import face_crop_from
    from converters.source_card import load_source_card

    card = load_source_card(card_path)
    crop = None
    if card.detector or detector:
        from edge.paths import models_dir

        crop = face_crop_from(
            detector or models_dir() / f"{card.detector}.float.card.json", card.decoder.params, card.preprocess.width
        )
    result = run(source, card, target, out_dir, list(calib) or None, force, parse_drops(max_drop), crop, threads)
    click.echo(f"wrote {result.card_path} (gate passed)")
