"""The shelf's events (their `time` is the frame's clock, so a replay reports the times it replays)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edge.events.types import FrameEvent


@dataclass(kw_only=True)
class ShelfEvent(FrameEvent):
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"frame_id", "frame_time", "scene", "classified"})
    zone: str
    scene: list[dict] | None = None  # a whole-frame classifier's results, when configured with on: frame


@dataclass(kw_only=True)
class CountChanged(ShelfEvent):
    type: ClassVar[str] = "count_changed"
    counts: dict[str, int]
    previous: dict[str, int] | None
    total: int
    classified: dict[str, int] | None = None


@dataclass(kw_only=True)
class PlanogramViolation(ShelfEvent):
    type: ClassVar[str] = "planogram_violation"
    WIRE_NAMES: ClassVar[dict[str, str]] = {"class_": "class"}
    class_: str
    count: int
    expected: list[str]


@dataclass(kw_only=True)
class StockRule(ShelfEvent):
    WIRE_NAMES: ClassVar[dict[str, str]] = {"class_": "class"}
    class_: str | None
    count: int
    minimum: int


@dataclass(kw_only=True)
class OutOfStock(StockRule):
    type: ClassVar[str] = "out_of_stock"
    since: float


@dataclass(kw_only=True)
class Restocked(StockRule):
    type: ClassVar[str] = "restocked"
    out_for_s: float
