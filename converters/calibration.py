"""Real images for calibration and the gate, preprocessed exactly as the card says (edge.preprocess)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge.errors import EdgekitError
from edge.images import list_images, read_image, video_frames
from edge.paths import shared_data_dir

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv"}


def resolve_all(entry: str) -> list[Path]:
    """Like resolve(), but a shared: entry may be a glob ('shared:faces/att/s0*')."""
    if entry.startswith("shared:") and any(c in entry for c in "*?["):
        paths = sorted(shared_data_dir().glob(entry[len("shared:") :]))
        if not paths:
            raise EdgekitError(
                f"data {entry}: nothing matches in {shared_data_dir()}",
                "set EDGEKIT_SHARED_DATA to the shared data folder",
            )
        return paths
    return [resolve(entry)]


def resolve(entry: str) -> Path:
    """'shared:faces/att' -> ../shared/data/faces/att; 'media:carphone' -> the cached package file; else a path."""
    if entry.startswith("shared:"):
        path = shared_data_dir() / entry[len("shared:") :]
        if not path.exists():
            raise EdgekitError(
                f"data {entry}: {path} not found",
                "set EDGEKIT_SHARED_DATA to the shared data folder, or pass --calib DIR",
            )
        return path
    if entry.startswith("media:"):
        from edge.media import media

        return media(entry[len("media:") :])
    path = Path(entry)
    if not path.exists():
        raise EdgekitError(
            f"calibration data {entry}: not found", "pass a folder of images (jpg/png/pgm/bmp) or a video"
        )
    return path


@dataclass
class Sample:
    name: str  # file (and frame) it came from
    image: np.ndarray  # BGR uint8
    crop: bool = False  # still to be cut to the face


def _held_out(name: str, share: float) -> bool:
    # Stable split: the same image is always on the same side, whatever else is in the folder.
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def load_samples(
    entries: list[str],
    video_stride: int = 8,
    limit: int | None = None,
    face_crop=None,
    crop_entries: tuple[str, ...] = (),
) -> tuple[list[Sample], list[str]]:
    """Images (recursive) and video frames; entries in crop_entries are cut to faces with face_crop(image) first.
    Returns (samples, skipped-with-reason)."""
    samples, skipped = [], []
    paths: list[Path] = []
    crop_paths: set[Path] = set()
    names: dict[
        Path, str
    ] = {}  # stable names (entry + relative path) keep the calibration/gate split machine-independent
    for entry in entries:
        for p in resolve_all(entry):
            found = list_images(p) if p.is_dir() else [p]
            paths += found
            names.update({f: f"{entry}/{f.relative_to(p) if p.is_dir() else f.name}" for f in found})
            if entry in crop_entries:
                crop_paths.update(found)
    for p in tqdm(paths, desc="reading images", unit="file", leave=False, disable=None):
        if p.suffix.lower() in VIDEO_SUFFIXES:
            try:
                frames = [Sample(f"{names[p]}#{i}", f, p in crop_paths) for i, f in video_frames(p, video_stride)]
                if not frames:
                    skipped.append(f"{p}: no frames could be read")
            except EdgekitError as e:
                frames = []
                skipped.append(str(e))
            samples += frames
            continue
        try:
            samples.append(Sample(names[p], read_image(p), p in crop_paths))
        except EdgekitError as e:
            skipped.append(str(e))
    if crop_paths:
        if face_crop is None:
            raise EdgekitError(
                "calibration: crop_faces entries need a face detector", "set `detector:` in the card and build it first"
            )
        kept = []
        for s in tqdm(samples, desc="cropping faces", unit="img", leave=False, disable=None):
            if not s.crop:
                kept.append(s)
                continue
            face = face_crop(s.image)
            if face is None:
                skipped.append(f"{s.name}: no face found")
            else:
                kept.append(Sample(s.name, face))
        samples = kept
    if limit and len(samples) > limit:
        idx = np.linspace(0, len(samples) - 1, limit).round().astype(int)
        samples = [samples[i] for i in idx]
    return samples, skipped


def split(samples: list[Sample], held_out: float) -> tuple[list[Sample], list[Sample]]:
    calib = [s for s in samples if not _held_out(s.name, held_out)]
    gate = [s for s in samples if _held_out(s.name, held_out)]
    return calib, gate


def require_enough(calib: list[Sample], minimum: int, force: bool, where: str) -> None:
    if not calib:
        raise EdgekitError(
            f"calibration images {where}: none could be read", "pass a folder of real images (jpg/png/pgm/bmp)"
        )
    if len(calib) < minimum and not force:
        raise EdgekitError(
            f"calibration images {where}: only {len(calib)} usable, at least {minimum} needed for stable INT8 ranges",
            "add more real images, or pass --force to accept the risk",
        )
