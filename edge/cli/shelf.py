"""`edgekit shelf ...`: preview (draw zones, detections and counts on a photo, to check zones by eye) and count
(per-zone counts of photos as JSON lines)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import cv2
import numpy as np

from edge.errors import EdgekitError

ZONE_COLOURS = [(0, 200, 255), (255, 160, 0), (80, 220, 80), (220, 80, 220), (60, 60, 255), (255, 255, 80)]


def _run(config_path: str, tiles: bool | None, profile: str | None = None):
    from edge.apps.shelf.run import ShelfRun
    from edge.config import load_config, parse_config

    cfg = load_config(config_path)
    if profile is not None and cfg.shelf is not None:  # the file's own keys again, with this profile laid over
        import yaml

        raw = yaml.safe_load(Path(config_path).read_text())
        raw["shelf"]["profile"] = profile
        cfg = parse_config(raw, str(config_path))
    if cfg.shelf is None:
        raise EdgekitError(f"config {config_path}: no 'shelf' section", "add one (see configs/shelf.yaml)")
    shelf_cfg = cfg.shelf
    if tiles is False:
        shelf_cfg = shelf_cfg.model_copy(update={"tiles": None})
    elif tiles and shelf_cfg.tiles is None:
        from edge.vision.tiling import TilingConfig

        shelf_cfg = shelf_cfg.model_copy(update={"tiles": TilingConfig()})
    return ShelfRun(shelf_cfg, cfg.models_dir(), cfg.runtime.accelerator)


def zone_counts(run, obs) -> dict[str, dict[str, int]]:
    """Raw counts of one photo per zone and class (no smoothing: a photo is one frame)."""
    out = {}
    for z, name in enumerate(run.shelf.zone_names):
        ids, n = np.unique(obs.detections.class_ids[obs.zones[z]], return_counts=True)
        out[name] = {run.detector.label(int(i)): int(k) for i, k in zip(ids, n)}
    return out


def draw_preview(frame: np.ndarray, run, obs) -> np.ndarray:
    """Zones (filled lightly, outlined, named with counts) and every counted detection; boxes outside all zones in grey
    so a zone that misses products shows at once."""
    img = frame.copy()
    h, w = img.shape[:2]
    thick = max(1, round(max(h, w) / 800))
    font = max(0.4, max(h, w) / 1600)
    polys = run.shelf.polygons(w, h)
    overlay = img.copy()
    for z, poly in enumerate(polys):
        cv2.fillPoly(overlay, [np.round(poly).astype(np.int32)], ZONE_COLOURS[z % len(ZONE_COLOURS)])
    img = cv2.addWeighted(overlay, 0.18, img, 0.82, 0)
    for i, box in enumerate(np.round(obs.detections.boxes).astype(int)):
        zs = np.nonzero(obs.zones[:, i])[0]
        colour = ZONE_COLOURS[zs[0] % len(ZONE_COLOURS)] if len(zs) else (160, 160, 160)
        cv2.rectangle(img, tuple(box[:2]), tuple(box[2:]), colour, thick)
        label = run.detector.label(int(obs.detections.class_ids[i]))
        if obs.attributes and obs.attributes[i]:
            label += f"/{obs.attributes[i][0]['label']}"
        cv2.putText(
            img,
            f"{label} {obs.detections.scores[i]:.2f}",
            (int(box[0]), max(0, int(box[1]) - 3)),
            cv2.FONT_HERSHEY_SIMPLEX,
            font * 0.6,
            colour,
            max(1, thick // 2),
            cv2.LINE_AA,
        )
    counts = zone_counts(run, obs)
    for z, poly in enumerate(polys):
        colour = ZONE_COLOURS[z % len(ZONE_COLOURS)]
        cv2.polylines(img, [np.round(poly).astype(np.int32)], True, colour, thick * 2)
        name = run.shelf.zone_names[z]
        text = f"{name}: " + (", ".join(f"{k} {v}" for k, v in counts[name].items()) or "empty")
        x, y = np.round(poly.min(0)).astype(int)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        x, y = int(np.clip(x, 0, max(0, w - tw))), int(np.clip(y + th + 4, th + 4, h))
        cv2.rectangle(img, (x, y - th - 4), (x + tw + 4, y + 4), (0, 0, 0), -1)
        cv2.putText(img, text, (x + 2, y), cv2.FONT_HERSHEY_SIMPLEX, font, colour, thick, cv2.LINE_AA)
    return img


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        ok = cv2.imwrite(str(path), img)
    except cv2.error:
        ok = False
    if not ok:
        raise EdgekitError(f"preview {path}: cannot be written", "use a .png or .jpg name in a writable folder")


tiles_option = click.option(
    "--tiles/--no-tiles", default=None, help="override the config's tiling (default: as configured)"
)
profile_option = click.option("--profile", help="a detector profile of the config's shelf.profiles (e.g. products)")


@click.group()
def shelf():
    """Shelf inventory: check zones on a photo, count products."""


@shelf.command()
@click.option(
    "--image", "image_path", required=True, type=click.Path(), help="a photo of the shelf from the camera's viewpoint"
)
@click.option("--config", "config_path", required=True, type=click.Path(), help="site YAML with a shelf section")
@click.option(
    "--out", "out_path", required=True, type=click.Path(path_type=Path), help="where to write the drawing (.png/.jpg)"
)
@tiles_option
@profile_option
def preview(image_path, config_path, out_path, tiles, profile):
    """Draw zones, detections and per-zone counts on PHOTO, to check the zones against the real shelf."""
    from edge.images import read_image

    run = _run(config_path, tiles, profile)
    frame = read_image(image_path)
    obs = run.observe(frame)
    _write(out_path, draw_preview(frame, run, obs))
    outside = int((~obs.zones.any(0)).sum()) if obs.zones.size else len(obs.detections)
    click.echo(f"{len(obs.detections)} detections, {outside} outside every zone; wrote {out_path}")
    for name, counts in zone_counts(run, obs).items():
        click.echo(f"  {name}: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "empty"))


@shelf.command()
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--config", "config_path", required=True, type=click.Path(), help="site YAML with a shelf section")
@tiles_option
@profile_option
def count(images, config_path, tiles, profile):
    """Per-zone counts of each photo (files or folders) as JSON lines; unreadable photos are reported and skipped."""
    from edge.images import expand_images, read_each

    run = _run(config_path, tiles, profile)
    paths, failed = expand_images(images), []

    def unreadable(path, e):
        failed.append(path)
        click.echo(json.dumps({"image": str(path), "error": e.what}))

    for path, picture in read_each(paths, unreadable):
        obs = run.observe(picture.image)
        line = {"image": str(path), "detections": len(obs.detections), "zones": zone_counts(run, obs)}
        if picture.degraded:  # counted from the part that decoded: say so, the zone counts may be short
            line["degraded"] = picture.degraded
        click.echo(json.dumps(line))
    if failed:
        raise EdgekitError(
            f"{len(failed)} of {len(paths)} photos could not be read (listed above)", "replace or remove them"
        )


@shelf.command()
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--config", "config_path", required=True, type=click.Path(), help="site YAML with a shelf section")
@click.option(
    "--hold", default=10.0, show_default=True, help="seconds each photo stays in view (as a camera would see it)"
)
@click.option("--fps", default=1.0, show_default=True, help="frames per second fed to the app while a photo is in view")
@tiles_option
@profile_option
def replay(images, config_path, hold, fps, tiles, profile):
    """Feed photos to the shelf app as a camera would (each in view for --hold seconds): prints its events as JSON
    lines, then the final per-zone state. For tuning smoothing, margins, holds and the scene gate."""
    from edge.images import expand_images, read_each

    run = _run(config_path, tiles, profile)
    now, step = 0.0, 1.0 / fps

    def unreadable(path, e):
        click.echo(json.dumps({"image": str(path), "error": e.what}), err=True)

    for path, picture in read_each(expand_images(images), unreadable):
        frame = picture.image
        for _ in range(max(1, int(hold * fps))):
            for event in run.process(frame, now):
                click.echo(json.dumps({"image": path.name, **event.to_json()}))
            now += step
    click.echo(json.dumps({"type": "state", "time": now, **run.shelf.state()}))
