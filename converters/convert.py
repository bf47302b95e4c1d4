"""SOURCE -> float TFLite -> INT8 TFLite for a target -> accuracy gate -> NAME.tflite + NAME.card.json (promoted only
when the gate passes)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from converters import sources
from converters.calibration import load_samples, require_enough, split
from converters.card_writer import make_card
from converters.gate import (
    classifier_agreement,
    detection_agreement,
    embedding_metrics,
    judge,
    lfw_metrics,
    output_agreement,
)
from converters.quantize import quantize
from converters.source_card import SourceCard
from converters.targets import get_target
from edge.errors import EdgekitError
from edge.preprocess import preprocess
from edge.runtime import CardModel


class GateFailed(EdgekitError):
    pass


@dataclass
class Result:
    card_path: Path
    metrics: dict
    failures: list[str]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def convert(
    source_path: Path,
    card: SourceCard,
    target: str,
    out_dir: Path,
    calib: list[str] | None = None,
    force: bool = False,
    max_drop: dict[str, float] | None = None,
    face_crop=None,
    threads: int = 1,
    build_key: str | None = None,
) -> Result:
    """One function on purpose (~80 lines): every stage writes into one staging folder that a single try/finally
    promotes or removes, and the gate's verdict needs all of them."""
    source_path = Path(source_path)
    if not source_path.exists():
        raise EdgekitError(f"source {source_path}: not found", "check the path")
    if target not in card.targets and target != "cpu":
        log(f"note: card {card.name} lists targets {card.targets}; converting for {target} anyway")
    tgt = get_target(target)
    log(f"[{card.name}] loading {card.source.format} source {source_path.name}")
    fm = sources.load(card.source, source_path)
    if fm.input_layout and fm.input_layout != card.preprocess.layout:
        card = card.model_copy(update={"preprocess": card.preprocess.model_copy(update={"layout": fm.input_layout})})

    entries = calib or card.calibration.images
    samples, skipped = load_samples(
        entries,
        card.calibration.video_stride,
        card.calibration.max_images,
        face_crop,
        tuple(card.calibration.crop_faces) if not calib else (),
    )
    for s in skipped[:5]:
        log(f"  skipped {s}")
    calib_set, held_out = split(samples, card.calibration.held_out)
    require_enough(calib_set, card.calibration.min_images, force, ", ".join(entries))
    if not held_out:
        raise EdgekitError(
            f"calibration images {', '.join(entries)}: none left over for the accuracy gate", "add more images"
        )
    log(f"[{card.name}] calibrating on {len(calib_set)} real images, gate on {len(held_out)} held-out ones")
    xs = [preprocess(s.image, card.preprocess)[0] for s in calib_set]
    ranges = card.calibration.output_ranges  # by logical output name; the quantizer wants tensor names
    tensor_of = dict(card.source.outputs) or {n: n for n in fm.output_names}
    int8, qinfo = quantize(
        fm, xs, tgt.IO_DTYPE, card.calibration.true_range_outputs, {tensor_of.get(k, k): v for k, v in ranges.items()}
    )
    if hasattr(
        tgt, "rewrite"
    ):  # the target's graph rewrites (coral: LEAKY_RELU, HARD_SWISH), before the gate judges it
        int8, rewrites = tgt.rewrite(int8)
        qinfo = {**qinfo, **rewrites}

    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{card.name}-", dir=out_dir))
    try:
        float_path, int8_path = stage / f"{card.name}.float.tflite", stage / f"{card.name}.tflite"
        float_path.write_bytes(fm.tflite)
        int8_path.write_bytes(int8)
        float_card = make_card(card, float_path, fm.output_names, "float")
        int8_card = make_card(card, int8_path, fm.output_names, target, quantization={**qinfo, **fm.notes_public()})
        mf, mq = CardModel(float_card, threads=threads), CardModel(int8_card, threads=threads)
        report = mq.report()
        log(f"[{card.name}] INT8 graph: {report}")
        metrics = {
            "held_out_images": len(held_out),
            "calibration_images": len(calib_set),
            "outputs": output_agreement(mf, mq, held_out, ranges),
        }
        if card.task in ("face_detector", "object_detector"):
            metrics["detections"] = detection_agreement(mf, mq, held_out)
        elif card.task == "classifier":
            metrics.update(classifier_agreement(mf, mq, held_out))
        mirror = card.task == "face_embedder" and bool(card.decoder.params.get("mirror", False))
        if card.task == "face_embedder" and (card.gate.identities or card.gate.pairs):
            metrics.update(embedding_metrics(mf, mq, card.gate.identities, card.gate.pairs, face_crop, mirror))
        if card.task == "face_embedder" and card.gate.lfw and lfw_present(card.gate.lfw):
            metrics.update(lfw_metrics(mf, mq, card.gate.lfw, card.gate.lfw_limit, face_crop, mirror))
        extra = tgt.finalize(int8_path, fm, xs, stage, card.name)
        int8_card.compiled = extra.pop("compiled", {})  # e.g. coral: the edgetpu_compiler output the device loads
        failures = judge(
            metrics,
            {**card.gate.max_drop, **(max_drop or {})},
            card.gate.min_cosine,
            report.partitions if target == "cpu" else None,
            target,
        )
        if hasattr(tgt, "problems"):
            failures += tgt.problems(extra)
        gate = {"passed": not failures, "failures": failures, **metrics}
        int8_card.gate = float_card.gate = gate
        if build_key:
            int8_card.source["build_key"] = float_card.source["build_key"] = build_key
        int8_card.partitions = report.as_dict()
        int8_card.quantization = {**int8_card.quantization, **extra}
        float_card.partitions = mf.report().as_dict()
        if failures:
            # The verdict and the refused build (float reference and INT8, with their cards) are kept beside the
            # zoo, never in it, so the refusal can be read and the models inspected.
            (out_dir / f"{card.name}.rejected.json").write_text(json.dumps(gate, indent=1) + "\n")
            kept = keep_refused(stage, out_dir / f"{card.name}.rejected", float_card, int8_card)
            raise GateFailed(
                f"[{card.name}] accuracy gate refused the INT8 model: " + "; ".join(failures),
                f"nothing was promoted (verdict in {out_dir / (card.name + '.rejected.json')}, "
                "the refused "
                f"float and INT8 builds in {kept}/); use more/better calibration images, or relax with "
                "--max-drop METRIC=VALUE",
            )
        float_card.save(stage / f"{card.name}.float.card.json")
        int8_card.save(stage / f"{card.name}.card.json")
        for f in sorted(
            stage.iterdir(), key=lambda p: p.name.endswith(".card.json")
        ):  # cards last: they name the model
            os.replace(f, out_dir / f.name)
        (out_dir / f"{card.name}.rejected.json").unlink(missing_ok=True)
        shutil.rmtree(out_dir / f"{card.name}.rejected", ignore_errors=True)
        return Result(out_dir / f"{card.name}.card.json", gate, failures)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def lfw_present(entry: str) -> bool:
    from converters.calibration import resolve

    try:
        return resolve(entry).is_dir()
    except EdgekitError:
        return False


def keep_refused(stage: Path, dest: Path, float_card, int8_card) -> Path:
    """Move a refused build out of staging into its own folder (cards name their .tflite relative to themselves)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    float_card.save(stage / f"{float_card.name}.float.card.json")
    int8_card.save(stage / f"{int8_card.name}.card.json")
    for f in stage.iterdir():
        os.replace(f, dest / f.name)
    return dest
