"""The shelf's models wired to its policy: scene gate -> detector (tiled) -> optional classifier on crops -> Shelf
logic.
One call per camera frame (`process`), so a loop (the agent, `edgekit shelf count`) needs nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.apps.shelf.events import ShelfEvent
from edge.apps.shelf.policy import SceneGate, Shelf, ShelfConfig
from edge.vision.detections import Detections
from edge.vision.detector import Detector


def card_path(name: str, models_dir: Path) -> Path:
    """A card name in the models dir, or a path to a .card.json/.tflite."""
    p = Path(name).expanduser()
    return p if p.suffix in (".json", ".tflite") else Path(models_dir) / f"{name}.card.json"


@dataclass
class Observation:
    detections: Detections  # counted ones (class and score filters applied)
    zones: np.ndarray  # (Z, N) membership
    attributes: list[list[dict] | None] | None  # classifier results per detection, when a classifier is configured
    scene: list[dict] | None  # whole-frame classifier results, when configured with on: frame


class ShelfRun:
    def __init__(self, cfg: ShelfConfig, models_dir: Path, accelerator=None):
        self.cfg = cfg
        card = card_path(cfg.detector, models_dir)
        if cfg.detector_source and not card.is_file():
            from edge.errors import EdgekitError

            raise EdgekitError(
                f"shelf detector {cfg.detector}: no card {card}",
                f"make it once: edgekit models import {cfg.detector_source} --name {cfg.detector}",
            )
        self.detector = Detector(card, accelerator, cfg.tiles)
        self.shelf = Shelf(cfg, self.detector.labels)
        self.gate = SceneGate(cfg.scene, cfg.smoothing_frames)
        self.classifier = None
        if cfg.classifier is not None:
            from edge.vision.classify import Classifier

            self.classifier = Classifier(card_path(cfg.classifier.card, models_dir), accelerator, cfg.classifier.top_k)
            wanted = cfg.classifier.classes
            self.shelf.check_names(wanted, "classifier.classes")
            self._classify_ids = np.array([self.detector.labels.index(c) for c in wanted], np.int64)

    def reload(self, name: str, card: Path, accelerator=None) -> None:
        """Swap in a new build of the detector or classifier (a model update). Zones, planogram and the classifier's
        class filter name the detector's labels, so a detector with other labels is refused."""
        from edge.errors import EdgekitError

        if name == self.detector.card.name:
            new = Detector(card, accelerator, self.cfg.tiles)
            if new.labels != self.detector.labels:
                raise EdgekitError(
                    f"model {name}: its labels differ from the running detector's",
                    "the shelf zones and planogram name those labels: push a build with the same labels",
                )
            self.detector = new
        elif self.classifier is not None and name == self.classifier.card.name:
            from edge.vision.classify import Classifier

            self.classifier = Classifier(card, accelerator, self.cfg.classifier.top_k)

    def observe(self, frame: np.ndarray) -> Observation:
        """Detect, filter, place in zones and classify one frame (no gate, no smoothing)."""
        dets = self.shelf.filter(self.detector.detect(frame))
        h, w = frame.shape[:2]
        zones = self.shelf.zones_of(dets, w, h)
        attributes = scene = None
        if self.classifier is not None:
            if self.cfg.classifier.on == "frame":
                scene = self.classifier.classify(frame).as_dict()
            else:
                only = np.isin(dets.class_ids, self._classify_ids) if len(self._classify_ids) else None
                results = self.classifier.classify_detections(frame, dets, self.cfg.classifier.margin, only)
                attributes = [None if r is None else r.as_dict() for r in results]
        return Observation(dets, zones, attributes, scene)

    def process(self, frame: np.ndarray, now: float, force: bool = False) -> list[ShelfEvent]:
        """Events caused by this frame. Frames the scene gate skips cost a thumbnail and the out-of-stock timers."""
        if not (self.gate.check(frame, now) or force):
            return self.shelf.tick(now)
        obs = self.observe(frame)
        top = None if obs.attributes is None else [a[0]["label"] if a else None for a in obs.attributes]
        h, w = frame.shape[:2]
        return self.shelf.update(obs.detections, (w, h), now, obs.scene, top)
