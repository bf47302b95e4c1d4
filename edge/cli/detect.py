"""`edgekit detect PHOTO... --model NAME`: any detector card on photos, one JSON line per photo, optionally the photos
with their boxes drawn. The first thing to do with a model just imported."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import cv2
import numpy as np

from edge.errors import EdgekitError

COLOURS = [(0, 200, 255), (255, 160, 0), (80, 220, 80), (220, 80, 220), (60, 60, 255), (255, 255, 80)]


def draw_detections(frame: np.ndarray, dets, label_of) -> np.ndarray:
    """Boxes coloured by class, each with its label and score; line width scaled to the photo."""
    img = frame.copy()
    thick = max(1, round(max(img.shape[:2]) / 800))
    font = max(0.4, max(img.shape[:2]) / 2000)
    for box, score, cid in zip(np.round(dets.boxes).astype(int), dets.scores, dets.class_ids):
        colour = COLOURS[int(cid) % len(COLOURS)]
        cv2.rectangle(img, tuple(box[:2]), tuple(box[2:]), colour, thick)
        cv2.putText(
            img,
            f"{label_of(int(cid))} {score:.2f}",
            (int(box[0]), max(10, int(box[1]) - 3)),
            cv2.FONT_HERSHEY_SIMPLEX,
            font,
            colour,
            max(1, thick // 2),
            cv2.LINE_AA,
        )
    return img


def as_json(path: Path, dets, label_of, ms: float) -> dict:
    return {
        "file": str(path),
        "ms": round(ms, 1),
        "detections": [
            {"label": label_of(int(c)), "score": round(float(s), 4), "box": [round(float(v), 1) for v in b]}
            for b, s, c in zip(dets.boxes, dets.scores, dets.class_ids)
        ],
    }


@click.command()
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "model", required=True, help="detector card name in the models dir, or a .card.json path")
@click.option(
    "--tiles", "tile_size", type=int, help="cut large photos into tiles of SIZE px (20% overlap, plus the whole photo)"
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="write each photo with its boxes drawn here")
@click.option("--threads", default=2, show_default=True)
@click.option("--dir", "folder", type=click.Path(path_type=Path), help="models directory (default: the zoo)")
def detect(photos, model, tile_size, out_dir, threads, folder):
    """Run a detector card on PHOTOS (files or folders): one JSON line per photo with labels, scores and boxes
    (x1, y1, x2, y2 in photo pixels) and the detector's time in ms."""
    from edge.card import card_path
    from edge.images import expand_images, read_each
    from edge.paths import models_dir
    from edge.runtime.accelerators import config_for
    from edge.vision.detector import Detector
    from edge.vision.tiling import TilingConfig

    tiles = TilingConfig(size=tile_size) if tile_size else None
    det = Detector(card_path(model, folder or models_dir()), config_for("cpu", threads=threads), tiles)
    paths, failed = expand_images(photos), []

    def unreadable(path, e):
        failed.append(path)
        click.echo(json.dumps({"file": str(path), "error": e.what}))

    for path, picture in read_each(paths, unreadable):
        frame = picture.image
        t = time.perf_counter()
        dets = det.detect(frame)
        ms = (time.perf_counter() - t) * 1000
        click.echo(json.dumps(as_json(path, dets, det.label, ms)))
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            target = out_dir / f"{path.stem}.jpg"
            if not cv2.imwrite(str(target), draw_detections(frame, dets, det.label)):
                raise EdgekitError(f"--out {out_dir}: cannot write {target.name}", "pass a writable folder")
    if failed:
        raise EdgekitError(
            f"{len(failed)} of {len(paths)} photos could not be read (listed above)", "replace or remove them"
        )
