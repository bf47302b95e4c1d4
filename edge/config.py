"""The site config (YAML), typed and validated at load: a wrong key or value is one line naming it."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.apps.doorbell.policy import POINTS, Thresholds
from edge.capture.base import CaptureConfig
from edge.errors import EdgekitError
from edge.faces.learning import LearningConfig
from edge.runtime.accelerators import AcceleratorConfig, CpuConfig
from edge.vision.motion import MotionConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuntimeConfig(Strict):
    accelerator: AcceleratorConfig = CpuConfig()
    models_dir: str | None = None  # default: $EDGEKIT_MODELS or the user cache


class DetectorConfig(Strict):
    model: str = "blazeface_short"
    min_score: float | None = Field(None, gt=0, lt=1)
    min_face_px: int = Field(24, ge=0)  # smaller faces are tracked but not embedded


class EmbedderConfig(Strict):
    # The built-in fallback stays the light FaceRes (what the core tests and a bare `parse_config({})` run); the shipped
    # configs/doorbell.yaml, `edgekit install`'s skeleton and the demo choose dlib_resnet, the most accurate on LFW.
    model: Literal["dlib_resnet", "faceres", "facenet"] | str = "faceres"
    mirror: bool | None = None  # test-time mirroring (default: the card's)
    # With mirroring on, the doorbell embeds a live face once and adds its mirror image's inference only when the
    # score lands within `mirror_margin` of the thresholds, where it can change a decision (on LFW: the decisions of
    # mirroring every face, for 1.2 inferences a face); "always" mirrors every live face. Enrolment always mirrors.
    live_mirror: Literal["undecided", "always"] = "undecided"
    mirror_margin: float | None = Field(None, ge=0, le=1)  # default: the card's (how far one view moves a score)
    # Face crop: box | aligned (eye-level rotation) | template (similarity to a 5-point template); true/false mean
    # aligned/box. Default: the card's (the crop the faces evaluation measured best).
    # Named chips (dlib_chip, arcface_112: edge/vision/templates.py) map the keypoints onto the embedder's own template.
    align: bool | str | None = None

    @field_validator("align")
    @classmethod
    def _known_crop(cls, v):
        from edge.vision.crop import CROPS

        if isinstance(v, str) and v not in CROPS:
            raise ValueError(f"unknown crop '{v}': use one of {', '.join(CROPS)}")
        return v


class TrackingConfig(Strict):
    iou: float = Field(0.3, gt=0, lt=1)
    max_missed: int = Field(10, ge=0)
    embed_every: int = Field(10, ge=1)  # re-embed an undecided track every N frames...
    embed_grow: float = Field(1.3, ge=1)  # ...or sooner when its face area grew this much
    embed_sharpen: float = Field(1.5, ge=1)  # ...or when its face got this much sharper (variance of the Laplacian)


class GalleryConfig(Strict):
    path: str = "~/.local/share/edgekit/gallery.db"


class EventsConfig(Strict):
    stdout: bool = True
    file: str | None = None
    # the file rotates at max_bytes into FILE.1 .. FILE.<keep_files> (oldest dropped): a doorbell runs for months
    max_bytes: int = Field(50_000_000, ge=100)
    keep_files: int = Field(5, ge=0)
    crops_dir: str | None = None  # write a JPEG crop per decision
    crops_keep: int = Field(1000, ge=1)  # the newest N crops are kept, older ones deleted: a doorbell runs for months


class LimitsConfig(Strict):
    # pictures over this many pixels are refused from their header, before decoding (files, folders, MQTT enroll)
    max_image_pixels: int = Field(50_000_000, ge=1)


def _writable_target(path: Path, key: str, folder: bool) -> None:
    """An output path the loop will write: refused at load when it cannot be (what it is, or its nearest existing
    parent, is the wrong kind or not writable), instead of at the first event or the first decision."""
    from edge.errors import EdgekitError

    kind = "folder" if folder else "file"
    if path.exists():
        if path.is_dir() != folder:
            raise EdgekitError(
                f"{key} {path}: is {'a folder' if path.is_dir() else 'not a folder'}, expected a {kind}",
                f"set {key} to a {kind} path",
            )
        if not os.access(path, os.W_OK):
            raise EdgekitError(
                f"{key} {path}: not writable by this user", f"fix its permissions or set {key} elsewhere"
            )
        return
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise EdgekitError(f"{key} {path}: {parent} is a file, so it cannot be created", f"set {key} elsewhere")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EdgekitError(
            f"{key} {path}: cannot be created ({parent} is not writable)", f"fix its permissions or set {key} elsewhere"
        )


def _optional(module: str, name: str) -> Any:
    """A config section another part of edgekit defines, or None where that part is not installed."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        return None


MqttConfig = _optional("edge.fleet.config", "MqttConfig")
PeripheralsConfig = _optional("edge.peripherals.config", "PeripheralsConfig")
ShelfConfig = _optional("edge.apps.shelf.policy", "ShelfConfig")
UiConfig = _optional("edge.web.config", "UiConfig")


class SiteConfig(Strict):
    device_id: str = Field("edgekit", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    app: str = "doorbell"  # a name in edge.apps.APPS
    source: CaptureConfig = CaptureConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    detector: DetectorConfig = DetectorConfig()
    embedder: EmbedderConfig = EmbedderConfig()
    tracking: TrackingConfig = TrackingConfig()
    thresholds: Thresholds = Thresholds()
    gallery: GalleryConfig = GalleryConfig()
    learning: LearningConfig = LearningConfig()  # the doorbell learning from its camera (edge/faces/learning.py)
    events: EventsConfig = EventsConfig()
    limits: LimitsConfig = LimitsConfig()
    motion: MotionConfig | None = None  # motion gating of the detector (edge.loop.motion); left out: every frame
    # Optional sections: left out, the part is off. `mqtt: {}` uses the defaults (a broker on 127.0.0.1:1883).
    mqtt: (MqttConfig or Any) | None = None
    peripherals: (PeripheralsConfig or Any) | None = None
    shelf: (ShelfConfig or Any) | None = None
    ui: (UiConfig or Any) | None = None  # the device's web page (edge.web); off unless configured

    @field_validator("mqtt", "peripherals", "shelf", "ui", mode="before")
    @classmethod
    def _installed(cls, v, info):
        parts = {"mqtt": MqttConfig, "peripherals": PeripheralsConfig, "shelf": ShelfConfig, "ui": UiConfig}
        part = parts[info.field_name]
        if v is not None and part is None:
            raise ValueError(f"this edgekit install has no '{info.field_name}' support; remove the section")
        return v

    @field_validator("thresholds")
    @classmethod
    def _similarities(cls, t):
        # cosine similarities of unit vectors: below 0 a stranger's face passes (a threshold of -1 recognised one);
        # the order of the whole set is checked once the embedder card's points fill what the site left out
        given = {k: getattr(t, k) for k in POINTS if k in t.model_fields_set and getattr(t, k) is not None}
        low = {k: v for k, v in given.items() if not 0 <= v <= 1}
        if low:
            raise ValueError(f"similarity thresholds must lie in 0..1, got {low}")
        return t

    @field_validator("app")
    @classmethod
    def _known_app(cls, v):
        from edge.apps import APPS

        if v not in APPS:
            raise ValueError(f"unknown app {v!r}; known: {', '.join(APPS.names())}")
        return v

    @model_validator(mode="after")
    def _app_has_its_section(self):
        if self.app == "shelf" and self.shelf is None:
            raise ValueError("app: shelf needs a 'shelf' section (see configs/shelf.yaml)")
        return self

    def models_dir(self) -> Path:
        from edge.paths import models_dir

        return Path(self.runtime.models_dir).expanduser() if self.runtime.models_dir else models_dir()

    def card(self, name: str) -> Path:
        from edge.card import card_path

        return card_path(name, self.models_dir())

    def slots(self) -> list[tuple[str, Path, tuple[str, ...]]]:
        """(config key, card path, the tasks it may have) of every model this site's app loads."""
        from edge.card import card_path

        if self.app == "doorbell":
            return [
                ("detector.model", self.card(self.detector.model), ("face_detector",)),
                ("embedder.model", self.card(self.embedder.model), ("face_embedder",)),
            ]
        if self.app != "shelf" or self.shelf is None:
            return []  # another app checks its own cards when it loads them
        detectors = ("object_detector", "face_detector")  # the shelf counts any detector's classes
        out = [("shelf.detector", card_path(self.shelf.detector, self.models_dir()), detectors)]
        if self.shelf.classifier is not None:
            classifier = card_path(self.shelf.classifier.card, self.models_dir())
            out.append(("shelf.classifier.card", classifier, ("classifier",)))
        return out

    def check_models(self) -> None:
        """Each slot's card exists, stays inside its folder and is of the slot's task: one line at start, not a
        traceback at the first frame."""
        from edge.card import load_card, require_task

        for key, path, tasks in self.slots():
            require_task(load_card(path, verify=False), tasks, key)

    def check_outputs(self) -> None:
        """The paths the loop writes, checked before it starts (EdgekitError naming the key)."""
        if self.events.file:
            _writable_target(Path(self.events.file).expanduser(), "events.file", folder=False)
        if self.events.crops_dir:
            _writable_target(Path(self.events.crops_dir).expanduser(), "events.crops_dir", folder=True)


def load_config(path: str | Path) -> SiteConfig:
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"config {path}: not found", "pass --config with a site YAML (see configs/doorbell.yaml)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise EdgekitError(f"config {path}: not valid YAML ({str(e).splitlines()[0]})", "fix the YAML syntax") from None
    cfg = parse_config(data, str(path))
    from edge.images import set_max_pixels

    set_max_pixels(cfg.limits.max_image_pixels)  # every picture this process reads from now on
    return cfg


def parse_config(data: dict, where: str = "config") -> SiteConfig:
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        hint = "remove it or check its spelling" if err["type"] == "extra_forbidden" else "see configs/doorbell.yaml"
        msg = err["msg"].removeprefix("Value error, ")
        what = f"key '{key}': {msg}" if key else msg
        raise EdgekitError(f"{where}: {what}", hint) from None
