"""`edgekit bench shelf`: detections per image and time per image, whole frame vs tiled, on real shelf photos.

Each photo is decoded once; every setting runs on it in turn (interleaved, so all see the same machine load), after
one warm-up call. Time is the detector's (preprocess + model + decode + tile merge), not JPEG decoding. With no
ground truth, `agree` is the F1 of each run's boxes against a reference run's (IoU 0.5, one-to-one), per photo."""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from edge.errors import EdgekitError

DEFAULT_IMAGES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "shelf" / "sku110k_sample" / "images"


def settings(tile_sizes: list[int], overlap: float) -> list[tuple[str, dict | None]]:
    return [("whole", None)] + [(f"tiles {s}", {"size": s, "overlap": overlap}) for s in tile_sizes]


def bench(
    models: list[str],
    folder: Path,
    images: list[Path],
    tile_sizes: list[int],
    overlap: float,
    threads: int,
    limit: int | None,
) -> list[dict]:
    from edge.images import expand_images, read_image
    from edge.runtime.accelerators import config_for
    from edge.vision.detector import Detector

    paths = expand_images(images)[:limit]
    if not paths:
        raise EdgekitError(f"images {', '.join(map(str, images))}: no images", "pass --images with shelf photos")
    runs = []
    for name in models:
        card = folder / f"{name}.card.json"
        for label, tiles in settings(tile_sizes, overlap):
            det = Detector(card, config_for("cpu", threads=threads), tiles)
            runs.append({"model": name, "setting": label, "det": det, "ms": [], "n": [], "boxes": []})
    frames, skipped = [], []
    for p in paths:
        try:
            frames.append(read_image(p))
        except EdgekitError as e:
            skipped.append(e.what)
    for r in runs:
        r["det"].detect(frames[0])  # warm-up: first invoke packs weights
    with click.progressbar(frames, label="photos", file=click.get_text_stream("stderr")) as bar:
        for frame in bar:
            for r in runs:
                t = time.perf_counter()
                d = r["det"].detect(frame)
                r["ms"].append((time.perf_counter() - t) * 1000)
                r["n"].append(len(d))
                r["boxes"].append(d.boxes)
    for r in runs:
        r.update(
            images=len(frames),
            skipped=skipped,
            frame=f"{frames[0].shape[1]}x{frames[0].shape[0]}",
            tiles=1 if r["setting"] == "whole" else None,
        )
    return runs


@click.command()
@click.option(
    "--images",
    type=click.Path(path_type=Path),
    multiple=True,
    help=f"shelf photos or folders [default: {DEFAULT_IMAGES}]",
)
@click.option(
    "--models", help="card names in the models dir [default: nanodet,nanodet.float, and sku110k_yolov8n when imported]"
)
@click.option("--dir", "folder", type=click.Path(path_type=Path), help="models directory (default: the zoo)")
@click.option("--tiles", "tile_sizes", default="800,600", show_default=True, help="tile sizes in frame pixels")
@click.option("--overlap", default=0.2, show_default=True)
@click.option("--threads", default=2, show_default=True)
@click.option("--limit", type=int, help="first N photos only")
@click.option("--reference", help="MODEL:SETTING to agree with, e.g. 'nanodet:tiles 800' (default: the first)")
def command(images, models, folder, tile_sizes, overlap, threads, limit, reference):
    """Detections and time per shelf photo, whole frame vs tiled."""
    from edge.paths import models_dir
    from edge.vision.agreement import f1
    from edge.vision.tiling import tile_grid

    folder = folder or models_dir()
    images = list(images) or [DEFAULT_IMAGES]
    if models is None:  # the product detector of configs/shelf.yaml's `products` profile, once imported
        models = "nanodet,nanodet.float" + (
            ",sku110k_yolov8n" if (folder / "sku110k_yolov8n.card.json").is_file() else ""
        )
    runs = bench(
        [m for m in models.split(",") if m],
        folder,
        images,
        [int(s) for s in tile_sizes.split(",") if s],
        overlap,
        threads,
        limit,
    )
    ref = next((r for r in runs if f"{r['model']}:{r['setting']}" == reference), None) if reference else runs[0]
    if ref is None:
        raise EdgekitError(f"--reference {reference}: no such run", "use MODEL:whole or MODEL:tiles SIZE of this bench")
    first = runs[0]
    w, h = (int(v) for v in first["frame"].split("x"))
    click.echo(
        f"{first['images']} photos from {', '.join(map(str, images))} (first {first['frame']}), "
        f"{threads} threads; agree = F1 vs {ref['model']}:{ref['setting']}"
        + (f"; skipped {len(first['skipped'])}: {'; '.join(first['skipped'])}" if first["skipped"] else "")
    )
    click.echo(
        f"{'model':16s} {'setting':10s} {'calls':>5s} {'det/img mean':>12s} {'min-max':>8s} {'ms/img p50':>10s} "
        f"{'p95':>7s} {'agree':>6s}"
    )
    for r in runs:
        n, ms = np.array(r["n"]), np.array(r["ms"])
        agree = np.mean([f1(a, b) for a, b in zip(r["boxes"], ref["boxes"])])
        calls = 1 if r["setting"] == "whole" else len(tile_grid(h, w, int(r["setting"].split()[1]), overlap)) + 1
        click.echo(
            f"{r['model']:16s} {r['setting']:10s} {calls:5d} {n.mean():12.1f} {f'{n.min()}-{n.max()}':>8s} "
            f"{np.median(ms):10.0f} {np.percentile(ms, 95):7.0f} {agree:6.2f}"
        )
