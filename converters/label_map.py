"""Label files as detectors ship them, read into one list indexed by the class id the model outputs.

Formats: one label per line (TF's `labelmap.txt`: line 0 is the background `???`); `ID label` or `ID: label` lines
(Coral's `coco_labels.txt`, ids may skip); Ultralytics' `names` mapping. COCO leaves ids unused: those entries are
placeholders (`???`, `n/a`, empty), kept so the ids line up, and listed so the decoder drops them."""

from __future__ import annotations

import re
from pathlib import Path

from edge.errors import EdgekitError

PLACEHOLDERS = {"???", "n/a", "na", "", "background", "__background__", "unused"}
PLACEHOLDER = "???"
_ID_LINE = re.compile(r"^\s*(\d+)\s*[:\s]\s*(.*?)\s*$")


def read_label_file(path: Path) -> tuple[list[str], bool]:
    """(labels, indexed): labels by id ('???' where an id is unused); indexed tells whether the file gave ids."""
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"label file {path}: not found", "pass --labels with a file of class names (one per line)")
    lines = [ln.rstrip("\r\n") for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise EdgekitError(f"label file {path}: empty", "one class name per line, in the model's class order")
    matches = [_ID_LINE.match(ln) for ln in lines if ln.strip()]
    if all(matches) and any(m.group(2) for m in matches):
        by_id = {int(m.group(1)): m.group(2) for m in matches}
        labels = [by_id.get(i, PLACEHOLDER) for i in range(max(by_id) + 1)]
        return [normalise(x) for x in labels], True
    return [normalise(x) for x in lines], False


def normalise(label: str) -> str:
    label = label.strip()
    return PLACEHOLDER if label.lower() in PLACEHOLDERS else label


def fit_to_classes(labels: list[str], num_classes: int, source: str) -> list[str]:
    """Align a label list with a head of `num_classes` outputs: a leading background entry is dropped when the file has
    one more line than classes (TF's labelmap.txt), missing trailing ids are padded with placeholders."""
    if len(labels) == num_classes + 1 and labels[0] == PLACEHOLDER:
        labels = labels[1:]
    if len(labels) > num_classes:
        raise EdgekitError(
            f"label file {source}: {len(labels)} labels for a model with {num_classes} classes",
            "pass the label file made for this model (--labels FILE)",
        )
    return labels + [PLACEHOLDER] * (num_classes - len(labels))


def unused_ids(labels: list[str]) -> list[int]:
    return [i for i, x in enumerate(labels) if x == PLACEHOLDER]


def from_names(names) -> list[str]:
    """Ultralytics' `names` ({0: 'person', ...} or a list) as a list by id."""
    if isinstance(names, dict):
        by_id = {int(k): str(v) for k, v in names.items()}
        return [by_id.get(i, PLACEHOLDER) for i in range(max(by_id) + 1)] if by_id else []
    return [str(x) for x in names]
