"""The doorbell's events: one decision per track (recognised / unknown), then face_left when it goes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edge.events.types import FrameEvent


@dataclass(kw_only=True)
class FaceDecision(FrameEvent):
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"undecided"})
    track_id: int
    score: float
    box: list[float]
    undecided: bool | None = None  # the track ended while its scores sat in the band


@dataclass(kw_only=True)
class FaceRecognized(FaceDecision):
    type: ClassVar[str] = "face_recognized"
    identity: str
    unlock: bool = True  # the score reached thresholds.unlock: the relay may open for it


@dataclass(kw_only=True)
class FaceUnknown(FaceDecision):
    type: ClassVar[str] = "face_unknown"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"undecided", "visitor", "seen", "first_seen"})
    visitor: str | None = None  # the unknown visitor this face was clustered into (learning.unknowns)
    seen: int | None = None  # visits of that visitor, this one included
    first_seen: float | None = None  # epoch seconds of its first visit


@dataclass(kw_only=True)
class FaceLeft(FrameEvent):
    type: ClassVar[str] = "face_left"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()
    track_id: int
    identity: str | None
    frames: int
