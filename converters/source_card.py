"""models/NAME.yaml: where a model comes from and how to use it (the input to `edgekit convert` / `models build`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.card import DecoderSpec, Preprocess
from edge.errors import EdgekitError
from edge.fetch import PackageFile


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(PackageFile):
    format: Literal["keras", "savedmodel", "frozen_graph", "tfjs", "tfjs_weights", "tflite", "onnx", "pytorch"]
    inputs: list[str] = []  # graph formats: input tensor names (one)
    outputs: dict[str, str] = {}  # logical name -> tensor name in the source graph; order = decoder's order
    nchw_to_nhwc: bool = False  # graph formats: re-lay an NCHW (onnx-tf style) graph out as NHWC; input becomes NHWC
    architecture: str | None = None  # tfjs_weights: the network the weights belong to (sources/architectures.py)
    # pytorch: a checkpoint's class ("pkg.module:Class", built with module_kwargs) and the registry packages it comes
    # from (installed into the torch engine's virtualenv without their dependencies). Without module: TorchScript
    # or an ExportedProgram. A registry-shipped class that loads its own weights: path "-" in the source.
    module: str | None = None
    input_shape: list[int] = []  # pytorch: C, H, W of the export
    module_kwargs: dict = {}
    engine_packages: list[str] = []
    engine_stubs: list[str] = []  # modules the class's package imports but the network never uses (stand-ins)
    # A pickled whole network names its classes by the training repo's layout (yolov5: models.yolo.DetectionModel):
    # each top-level name maps onto a registry package's module (models: yolov5.models).
    module_aliases: dict[str, str] = {}
    # YOLO heads with boxes in input pixels ([1, N, cx, cy, w, h, ...]): export only that output, boxes divided by
    # the input size, so one INT8 scale covers boxes and scores alike.
    normalize_boxes: bool = False
    # yolov5's Detect head decodes on 5-D tensors, whose split onnx2tf makes a Flex op: decode on 3-D ones instead
    # (same arithmetic, checked exact on the SKU-110K YOLOv5n).
    flat_yolov5_detect: bool = False


class Calibration(Strict):
    # Entries: "shared:<path under ../shared/data>", "media:<name>" (edge/media.py) or a folder path.
    images: list[str]
    crop_faces: list[str] = []  # entries (of `images`) whose pictures are cut to the largest face first
    min_images: int = 100
    max_images: int = 400
    held_out: float = Field(0.25, gt=0, lt=1)  # share kept out of calibration for the gate
    video_stride: int = 8  # every Nth frame of a video entry
    true_range_outputs: bool = True  # set graph outputs' ranges from the true min/max (moving averages clip logits)
    # Per output: [low, high] bounds on that range (null: the true value). Logits far below any threshold need no
    # resolution: BlazeFace's true range is about [-570, 3.4], which would leave 2.3 logits per INT8 step.
    output_ranges: dict[str, tuple[float | None, float | None]] = {}


class GateSpec(Strict):
    # Largest allowed loss of each metric (float minus INT8); cosine is a floor, not a drop.
    max_drop: dict[str, float] = {}
    min_cosine: float = 0.95
    pairs: list[str] = []  # embedders: labelled pair CSVs ("shared:faces/deepface/pairs.csv")
    identities: list[str] = []  # embedders: folder-per-identity sets for rank-1
    lfw: str | None = None  # embedders: LFW's 10-fold accuracy ("shared:faces/lfw"), skipped when the folder is absent
    lfw_limit: int | None = Field(None, ge=1)  # the first N same and N different pairs of each fold (None: all 6000)


class SourceCard(Strict):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    task: Literal["face_detector", "face_embedder", "object_detector", "classifier"]
    licence: str
    description: str = ""
    source: Source
    preprocess: Preprocess
    decoder: DecoderSpec
    labels: list[str] = []
    calibration: Calibration
    gate: GateSpec = GateSpec()
    targets: list[Literal["cpu", "coral", "jetson"]] = ["cpu"]
    detector: str | None = None  # for crop: face, the zoo detector used to find faces
    notes: str = ""


def load_source_card(path: str | Path) -> SourceCard:
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"card {path}: not found", "pass a models/NAME.yaml file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise EdgekitError(f"card {path}: not valid YAML ({str(e).splitlines()[0]})", "fix the YAML syntax") from None
    try:
        return SourceCard.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise EdgekitError(
            f"card {path}: key '{key}': {err['msg']}", "see models/README.md for the card fields"
        ) from None
