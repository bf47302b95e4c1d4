"""The model card: the contract between the converters and the device.

The converter writes `NAME.card.json` next to `NAME.tflite`; the device reads it and never guesses preprocessing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.errors import EdgekitError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Preprocess(Strict):
    """How a BGR uint8 frame becomes the model's input tensor: x = (pixel - mean) / std, per channel."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    color: Literal["RGB", "BGR", "GRAY"] = "RGB"
    resize: Literal["stretch", "letterbox"] = "stretch"
    pad: int = Field(0, ge=0, le=255)  # letterbox fill (Ultralytics pads with 114)
    interpolation: Literal["auto", "linear"] = "auto"  # auto: area when shrinking; linear: as Ultralytics resizes
    mean: list[float] = [0.0, 0.0, 0.0]
    std: list[float] = [1.0, 1.0, 1.0]
    # FaceNet-style per-image standardisation: (x - mean(x)) / max(std(x), 1/sqrt(n)); replaces mean/std.
    prewhiten: bool = False


class DecoderSpec(Strict):
    name: str  # registered decoder: blazeface, nanodet, ssd, yolo, embedding, classifier
    params: dict[str, Any] = {}


class TensorSpec(Strict):
    name: str
    shape: list[int]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


class ModelCard(Strict):
    name: str
    task: Literal["face_detector", "face_embedder", "object_detector", "classifier"]
    target: Literal["cpu", "coral", "jetson", "float"] = "cpu"
    tflite: str  # file name, relative to the card
    sha256: str
    preprocess: Preprocess
    decoder: DecoderSpec
    labels: list[str] = []
    outputs: list[str] = []  # logical names of the outputs, in the order the decoder expects
    inputs: list[TensorSpec] = []
    output_tensors: list[TensorSpec] = []
    quantization: dict[str, Any] = {}
    source: dict[str, Any] = {}
    licence: str = ""
    gate: dict[str, Any] = {}
    partitions: dict[str, Any] = {}
    tools: dict[str, str] = {}
    notes: str = ""
    # Files compiled for an accelerator beside the plain one, by accelerator: {"edgetpu": {"tflite", "sha256"}}
    compiled: dict[str, dict[str, str]] = {}

    @property
    def path(self) -> Path:
        return self._dir / self.tflite

    _dir: Path = Path(".")

    def placed_in(self, folder: Path) -> ModelCard:
        """The card read from (or written to) `folder`: its model file is resolved there."""
        self._dir = Path(folder)
        return self

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.model_dump(), indent=2) + "\n")


REBUILD = "rebuild it with `edgekit models build`"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def card_path(name: str | Path, models_dir: Path | None = None) -> Path:
    """Where a model's card is: NAME in `models_dir` -> NAME.card.json there; NAME.tflite -> the card beside it; a
    .json path as is."""
    p = Path(name).expanduser()
    if p.suffix == ".tflite":
        return p.with_name(p.name[: -len(".tflite")] + ".card.json")
    if p.suffix == ".json" or models_dir is None:
        return p
    return Path(models_dir) / f"{name}.card.json"


def load_card(path: str | Path, verify: bool = True) -> ModelCard:
    """Load NAME.card.json (or the card beside NAME.tflite); check the model file exists and matches its sha256."""
    path = card_path(path)
    if not path.is_file():
        raise EdgekitError(
            f"model card {path}: not found", "build it with `edgekit models build` or pass the .card.json path"
        )
    try:
        card = ModelCard.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except UnicodeDecodeError:
        raise EdgekitError(f"model card {path}: not a text file (not UTF-8)", REBUILD) from None
    except OSError as e:
        raise EdgekitError(
            f"model card {path}: cannot be read ({e.strerror})", "check the file's permissions"
        ) from None
    except RecursionError:
        raise EdgekitError(f"model card {path}: nested too deeply to be a model card", REBUILD) from None
    except json.JSONDecodeError as e:
        raise EdgekitError(
            f"model card {path}: not valid JSON ({e.msg} at line {e.lineno})", "rebuild it with `edgekit models build`"
        ) from None
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise EdgekitError(
            f"model card {path}: field '{key}': {err['msg']}", "rebuild it with `edgekit models build`"
        ) from None
    card.placed_in(path.parent)
    inside = path.parent.resolve()
    try:
        escapes = not (inside / card.tflite).resolve().is_relative_to(inside) or Path(card.tflite).name != card.tflite
    except (ValueError, OSError):  # a NUL byte, a name too long for the file system
        escapes = True
    if escapes or not card.tflite:
        raise EdgekitError(
            f"model card {path}: field 'tflite' ({card.tflite[:80]!r}) must name a file inside {inside}",
            "a card names its model file beside it, e.g. NAME.tflite",
        )
    if verify:
        if not card.path.is_file():
            raise EdgekitError(
                f"model card {path}: its model file {card.path} is missing",
                f"rebuild it with `edgekit models build {card.name}`",
            )
        if sha256_file(card.path) != card.sha256:
            raise EdgekitError(
                f"model card {path}: sha256 mismatch for {card.path.name}",
                f"rebuild it with `edgekit models build {card.name}`",
            )
    return card


def require_task(card: ModelCard, tasks: str | tuple[str, ...], key: str) -> None:
    """A card in a slot (config key `key`) must be of one of the slot's tasks: an embedder loaded as the detector fails
    at the first frame deep in the tracker otherwise."""
    tasks = (tasks,) if isinstance(tasks, str) else tasks
    if card.task not in tasks:
        wanted = " or ".join(tasks)
        example = f" (e.g. {SLOT_EXAMPLES[tasks[0]]})" if tasks[0] in SLOT_EXAMPLES else ""
        raise EdgekitError(
            f"model card {card.name}: task {card.task}, but {key} needs a {wanted}",
            f"set {key} to a {wanted} card{example}",
        )


SLOT_EXAMPLES = {"face_detector": "blazeface_short", "face_embedder": "faceres", "object_detector": "nanodet"}


def slot_mismatch(new: ModelCard, old: ModelCard, output_shapes: list[tuple[int, ...]] | None = None) -> str | None:
    """Why `new` cannot replace `old` in its slot (task, decoder, labels, output shapes), or None. `output_shapes`: what
    the new model really returns (a card can claim anything); else the new card's declared shapes are compared."""
    if new.task != old.task:
        return f"task {new.task}, the slot's is {old.task}"
    if new.decoder.name != old.decoder.name:
        return f"decoder {new.decoder.name}, the slot's is {old.decoder.name}"
    if new.labels != old.labels:
        return f"{len(new.labels)} labels {new.labels[:3]}..., the slot's are {len(old.labels)} {old.labels[:3]}..."
    shapes = output_shapes if output_shapes is not None else [tuple(t.shape) for t in new.output_tensors]
    want = [tuple(t.shape) for t in old.output_tensors]
    if want and shapes and [tuple(s) for s in shapes] != want:
        return f"output shapes {[list(s) for s in shapes]}, the slot's are {[list(s) for s in want]}"
    return None
