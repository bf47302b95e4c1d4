"""Shelf inventory: per zone and class counts from detections, smoothed and turned into events (pure logic, no I/O).

- Counts per (zone, class) are the median over the last `smoothing_frames` processed frames, so one missed or
  phantom detection is not a stock change; a reported count moves only when the median moves by `change_margin`.
- `out_of_stock`: a minimum rule (zone total or one class) below its minimum for `out_of_stock_seconds`; `restocked`
  when it is back at minimum + `restock_margin`. The time hold and the margin are the hysteresis.
- `planogram_violation`: a class the zone does not expect has a non-zero count (once per appearance).
- `count_changed`: a zone's reported counts changed (the first report of each zone too, with `previous: null`).
- `SceneGate`: processing runs on a schedule or when the scene changes (mean absolute difference of a small grey
  thumbnail), in bursts of `smoothing_frames` frames so the median sees a settled scene.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.apps.shelf.events import CountChanged, OutOfStock, PlanogramViolation, Restocked, ShelfEvent
from edge.errors import EdgekitError
from edge.vision.detections import Detections
from edge.vision.tiling import TilingConfig
from edge.vision.zones import as_polygon, zone_membership


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ZoneConfig(_Strict):
    name: str = Field(min_length=1)
    polygon: list[tuple[float, float]] = Field(
        min_length=3, description="corners in frame pixels (or fractions, see zone_units)"
    )
    expected: list[str] = Field([], description="planogram: the classes that belong here; empty = anything goes")
    minimum: dict[str, int] = Field({}, description="class -> fewest items before out_of_stock")
    min_total: int = Field(0, ge=0, description="fewest items of any counted class before out_of_stock")

    @model_validator(mode="after")
    def _check(self):
        try:
            as_polygon(self.polygon, self.name)
        except EdgekitError as e:
            raise ValueError(e.what) from None
        bad = [k for k, v in self.minimum.items() if v < 1]
        if bad:
            raise ValueError(f"minimum for {bad} must be at least 1")
        return self


class SceneConfig(_Strict):
    threshold: float = Field(
        6.0, ge=0, description="mean absolute grey difference (0-255) of a thumbnail that counts as a change"
    )
    min_interval_s: float = Field(0.0, ge=0, description="no new burst sooner than this after the last one")
    max_interval_s: float | None = Field(
        300.0, gt=0, description="schedule: a burst at least this often; null = only on change"
    )
    thumbnail: tuple[int, int] = (64, 48)


class ClassifierStageConfig(_Strict):
    card: str = Field(description="classifier card name in the models dir (or a .card.json path)")
    on: Literal["frame", "detections"] = "detections"
    classes: list[str] = Field([], description="detector classes whose crops are classified; empty = all")
    top_k: int = Field(1, ge=1)
    margin: float = Field(0.1, ge=0, description="crop grown by this fraction of the box on each side")


class ShelfConfig(_Strict):
    detector: str = Field("nanodet", description="detector card name in the models dir (or a .card.json path)")
    detector_source: str | None = Field(
        None, description="the file `edgekit models import` makes the card from, named when the card is missing"
    )
    tiles: TilingConfig | None = Field(
        default_factory=TilingConfig, description="null = one model call on the whole frame"
    )
    score_threshold: float | None = Field(
        None, ge=0, le=1, description="drop detections below this (the card's decoder threshold is the floor)"
    )
    classes: list[str] = Field([], description="detector labels to count; empty = every label")
    anchor: Literal["bottom_centre", "centre"] = "bottom_centre"
    zone_units: Literal["pixels", "fraction"] = "pixels"
    zones: list[ZoneConfig] = Field(min_length=1)
    smoothing_frames: int = Field(5, ge=1)
    change_margin: int = Field(1, ge=1)
    out_of_stock_seconds: float = Field(30.0, ge=0)
    restock_margin: int = Field(0, ge=0)
    scene: SceneConfig = SceneConfig()
    classifier: ClassifierStageConfig | None = None
    profile: str | None = Field(None, description="the entry of `profiles` laid over these keys")
    profiles: dict[str, dict] = Field({}, description="name -> shelf keys (detector, tiles, zones, ...)")

    @model_validator(mode="before")
    @classmethod
    def _profile(cls, data):
        from edge.apps.shelf.profiles import apply_profile

        return apply_profile(data, set(cls.model_fields), cls.model_validate)

    @model_validator(mode="after")
    def _unique_zones(self):
        names = [z.name for z in self.zones]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"zone names must be unique, repeated: {dup}")
        return self


class SceneGate:
    """Says which frames to process: a burst of `burst` frames when the scene changed since the last processed frame,
    or when `max_interval_s` passed; nothing in between. Costs one resize and one subtraction per frame."""

    def __init__(self, cfg: SceneConfig, burst: int):
        self.cfg, self.burst = cfg, burst
        self.reference: np.ndarray | None = None  # thumbnail of the last processed frame
        self.left = 0  # frames left in the current burst
        self.burst_at: float | None = None
        self.last_difference = 0.0

    def thumbnail(self, frame: np.ndarray) -> np.ndarray:
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        return cv2.resize(grey, self.cfg.thumbnail, interpolation=cv2.INTER_AREA).astype(np.int16)

    def check(self, frame: np.ndarray, now: float) -> bool:
        thumb = self.thumbnail(frame)
        if self.left == 0:
            self.last_difference = (
                float(np.abs(thumb - self.reference).mean()) if self.reference is not None else float("inf")
            )
            changed = self.last_difference > self.cfg.threshold
            due = self.burst_at is None or (
                self.cfg.max_interval_s is not None and now - self.burst_at >= self.cfg.max_interval_s
            )
            rested = self.burst_at is None or now - self.burst_at >= self.cfg.min_interval_s
            if not ((changed and rested) or due):
                return False
            self.left, self.burst_at = self.burst, now
        self.left -= 1
        self.reference = thumb
        return True


class Shelf:
    """Feed it the detections of each processed frame (`update`); it returns the events that frame caused."""

    def __init__(self, cfg: ShelfConfig, labels: list[str]):
        self.cfg = cfg
        self.labels = list(labels)
        counted = cfg.classes or self.labels
        self.check_names(counted, "classes")
        for z in cfg.zones:
            self.check_names(z.expected, f"zones.{z.name}.expected")
            self.check_names(list(z.minimum), f"zones.{z.name}.minimum")
        self.classes = list(dict.fromkeys(counted))
        # label id -> column in the count matrix, -1 for labels not counted
        self.column = np.full(max(len(self.labels), 1), -1, np.int64)
        for j, name in enumerate(self.classes):
            self.column[self.labels.index(name)] = j
        self.zone_names = [z.name for z in cfg.zones]
        self.history: deque[np.ndarray] = deque(maxlen=cfg.smoothing_frames)
        self.reported: np.ndarray | None = None  # (Z, C) int counts last reported
        self._polygons: dict[tuple[int, int], list[np.ndarray]] = {}
        # minimum rules: (zone index, class column or None for the zone total, minimum)
        self.rules = [(i, None, z.min_total) for i, z in enumerate(cfg.zones) if z.min_total > 0]
        self.rules += [(i, self.classes.index(c), m) for i, z in enumerate(cfg.zones) for c, m in z.minimum.items()]
        self.below_since: dict[int, float] = {}  # rule index -> time the count fell below
        self.out: set[int] = set()
        self.out_since: dict[int, float] = {}
        self.violations: set[tuple[int, int]] = set()
        self.classified: list[dict | None] = [None] * len(cfg.zones)  # classifier tally per zone, last frame
        expected = [set(z.expected) | set(z.minimum) for z in cfg.zones]
        self.unexpected = np.array([[bool(e) and c not in e for c in self.classes] for e in expected], bool).reshape(
            len(cfg.zones), len(self.classes)
        )

    def check_names(self, names: list[str], key: str) -> None:
        unknown = [n for n in names if n not in self.labels]
        if unknown:
            hint = ", ".join(self.labels[:12]) + (", ..." if len(self.labels) > 12 else "")
            raise EdgekitError(
                f"shelf config: {key}: {unknown} not among the detector's labels",
                f"use the card's label names ({hint})",
            )

    def polygons(self, width: int, height: int) -> list[np.ndarray]:
        key = (width, height)
        if key not in self._polygons:
            scale = (
                np.array([width, height], np.float32) if self.cfg.zone_units == "fraction" else np.ones(2, np.float32)
            )
            self._polygons[key] = [as_polygon(z.polygon, z.name) * scale for z in self.cfg.zones]
        return self._polygons[key]

    def filter(self, dets: Detections) -> Detections:
        """Detections that count: a counted class and above the score threshold."""
        keep = self.column[np.clip(dets.class_ids, 0, len(self.column) - 1)] >= 0
        keep &= (dets.class_ids >= 0) & (dets.class_ids < len(self.labels))
        if self.cfg.score_threshold is not None:
            keep &= dets.scores >= self.cfg.score_threshold
        return dets[keep]

    def zones_of(self, dets: Detections, width: int, height: int) -> np.ndarray:
        """(Z, N) bool: detection n stands in zone z."""
        return zone_membership(dets.boxes, self.polygons(width, height), self.cfg.anchor)

    def counts(self, dets: Detections, width: int, height: int) -> np.ndarray:
        """(Z, C) raw counts of one frame's detections."""
        dets = self.filter(dets)
        member = self.zones_of(dets, width, height).astype(np.int64)
        onehot = np.zeros((len(dets), len(self.classes)), np.int64)
        onehot[np.arange(len(dets)), self.column[dets.class_ids]] = 1
        return member @ onehot

    def update(
        self,
        dets: Detections,
        frame_size: tuple[int, int],
        now: float,
        scene: list[dict] | None = None,
        attributes: list[str | None] | None = None,
    ) -> list[ShelfEvent]:
        """One processed frame (frame_size = (width, height)). Returns events; `scene` (a whole-frame classifier's
        results) rides on each.
        `attributes`: a classifier's top label per detection (None where not classified); each zone's tally of this
        frame rides on its count_changed events as `classified` and in `state()`."""
        if attributes is not None:
            self._tally(dets, frame_size, attributes)
        self.history.append(self.counts(dets, *frame_size))
        if len(self.history) < self.history.maxlen:
            return []
        smoothed = np.rint(np.median(np.stack(self.history), axis=0)).astype(np.int64)  # median: odd windows are exact
        events = self._count_changes(smoothed, now)
        events += self._planogram(now)
        events += self.tick(now)
        for e in events:
            e.scene = scene
        return events

    def _tally(self, dets: Detections, frame_size: tuple[int, int], attributes: list[str | None]) -> None:
        if len(attributes) != len(dets):
            raise ValueError(f"{len(attributes)} attributes for {len(dets)} detections")
        member = self.zones_of(dets, *frame_size)
        labels = np.array([a or "" for a in attributes], dtype=object)
        for z in range(len(self.zone_names)):  # per zone (a handful), counting with numpy
            names, n = np.unique(labels[member[z] & (labels != "")].astype(str), return_counts=True)
            self.classified[z] = {str(k): int(v) for k, v in zip(names, n)}

    def _count_changes(self, smoothed: np.ndarray, now: float) -> list[ShelfEvent]:
        events = []
        first = self.reported is None
        if first:
            self.reported = smoothed.copy()
        moved = np.abs(smoothed - self.reported) >= self.cfg.change_margin
        for z in range(len(self.zone_names)):
            if first or moved[z].any():
                previous = None if first else self.zone_counts(z)
                self.reported[z, moved[z]] = smoothed[z, moved[z]]
                events.append(
                    CountChanged(
                        time=now,
                        zone=self.zone_names[z],
                        counts=self.zone_counts(z),
                        previous=previous,
                        total=int(self.reported[z].sum()),
                        classified=self.classified[z],
                    )
                )
        return events

    def _planogram(self, now: float) -> list[ShelfEvent]:
        events = []
        wrong = (self.reported > 0) & self.unexpected
        for z, c in zip(*np.nonzero(wrong)):
            if (z, c) not in self.violations:
                self.violations.add((z, c))
                zone = self.cfg.zones[z]
                events.append(
                    PlanogramViolation(
                        time=now,
                        zone=zone.name,
                        class_=self.classes[c],
                        count=int(self.reported[z, c]),
                        expected=sorted(set(zone.expected) | set(zone.minimum)),
                    )
                )
        self.violations = {(z, c) for z, c in self.violations if wrong[z, c]}  # re-arm once it is gone
        return events

    def tick(self, now: float) -> list[ShelfEvent]:
        """Timers only (out_of_stock holds), from the last reported counts; call it between processed frames too."""
        if self.reported is None:
            return []
        events = []
        for r, (z, c, minimum) in enumerate(self.rules):
            count = int(self.reported[z].sum() if c is None else self.reported[z, c])
            fields = {
                "zone": self.zone_names[z],
                "class_": None if c is None else self.classes[c],
                "count": count,
                "minimum": minimum,
            }
            if count < minimum:
                since = self.below_since.setdefault(r, now)
                if r not in self.out and now - since >= self.cfg.out_of_stock_seconds:
                    self.out.add(r)
                    self.out_since[r] = since
                    events.append(OutOfStock(time=now, since=since, **fields))
            else:
                self.below_since.pop(r, None)
                if r in self.out and count >= minimum + self.cfg.restock_margin:
                    self.out.discard(r)
                    events.append(Restocked(time=now, out_for_s=round(now - self.out_since.pop(r), 3), **fields))
        return events

    def zone_counts(self, z: int) -> dict[str, int]:
        row = self.reported[z]
        return {self.classes[c]: int(row[c]) for c in np.nonzero(row)[0]}

    def state(self) -> dict:
        """Per-zone reported counts and alarms: what a retained MQTT state message carries."""
        if self.reported is None:
            return {"zones": {}}
        out_zones = {self.zone_names[self.rules[r][0]] for r in self.out}
        zones = {}
        for z, name in enumerate(self.zone_names):
            zones[name] = {
                "counts": self.zone_counts(z),
                "total": int(self.reported[z].sum()),
                "out_of_stock": name in out_zones,
            }
            if self.classified[z] is not None:
                zones[name]["classified"] = self.classified[z]
        return {"zones": zones}
