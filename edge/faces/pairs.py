"""Labelled face pairs, read once for calibration, evaluation and the converters' gate.

Two formats: a CSV with columns file_x, file_y, Decision (deepface's; Decision Yes/yes/1/true/same is the same person,
anything else a different one), or LFW's pairs.txt (a header line of counts, then `name i j` for the same person and
`name1 i name2 j` for two people; pictures at name/name_000i.jpg). File names are resolved relative to the pairs file:
in its folder, in `images/` beside it (deepface), or in `../images` (LFW's meta/pairs.txt); never by base name alone."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from edge.errors import EdgekitError

SAME = ("yes", "1", "true", "same")
COLUMNS = ("file_x", "file_y", "Decision")


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool


def read_pairs(path: str | Path) -> list[Pair]:
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(
            f"pairs file {path}: not found", "pass a CSV with columns file_x,file_y,Decision or LFW's pairs.txt"
        )
    text = path.read_text(errors="replace")
    is_csv = path.suffix == ".csv" or text.lstrip().startswith("file_x")
    rows = _csv_rows(path, text) if is_csv else _lfw_rows(path, text)
    return [Pair(resolve_pair_file(path, a), resolve_pair_file(path, b), same) for a, b, same in rows]


def _csv_rows(path: Path, text: str) -> list[tuple[str, str, bool]]:
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise EdgekitError(
            f"pairs file {path}: column '{missing[0]}' missing", "the header must be file_x,file_y,Decision"
        )
    return [(r["file_x"], r["file_y"], (r["Decision"] or "").strip().lower() in SAME) for r in reader]


def _lfw_rows(path: Path, text: str) -> list[tuple[str, str, bool]]:
    rows = []
    for n, line in enumerate(text.splitlines()[1:], start=2):  # line 1: fold and pair counts
        f = line.split()
        try:
            if len(f) == 3:
                rows.append((_lfw_name(f[0], f[1]), _lfw_name(f[0], f[2]), True))
            elif len(f) == 4:
                rows.append((_lfw_name(f[0], f[1]), _lfw_name(f[2], f[3]), False))
            elif f:
                raise ValueError
        except ValueError:
            raise EdgekitError(
                f"pairs file {path}: line {n} is neither `name i j` nor `name1 i name2 j`",
                "pass LFW's pairs.txt or a CSV with columns file_x,file_y,Decision",
            ) from None
    return rows


def _lfw_name(name: str, index: str) -> str:
    return f"{name}/{name}_{int(index):04d}.jpg"


def resolve_pair_file(pairs_path: Path, name: str) -> Path:
    """The picture `name` names, relative to the pairs file (see the module's docstring); the first place it exists,
    else the plain relative path (reading it then fails and the pair is left out and counted)."""
    here = Path(pairs_path).parent
    for base in (here, here / "images", here.parent / "images"):
        if (base / name).is_file():
            return base / name
    return here / name
