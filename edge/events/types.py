"""Typed events. Each is a dataclass whose `type` names it on the wire; `to_json()` gives the JSON object sinks and
MQTT consumers get: `type`, `time` (epoch seconds), `id`, the event's own fields, then whatever enrichers added
(`position`, `crop`, `snapshot`). Fields listed in `OPTIONAL` are left out while None, as they always were."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

ENRICHED = ("position", "crop", "crop_error", "snapshot", "snapshot_skipped")


@dataclass(kw_only=True)
class Event:
    type: ClassVar[str] = "event"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()
    WIRE_NAMES: ClassVar[dict[str, str]] = {}  # field -> JSON key where the key is a Python keyword ("class")
    time: float | None = None  # stamped by the bus when not set (shelf events carry the frame's clock)
    id: str | None = None  # stamped by the bus
    position: dict | None = None  # GPS, by the position enricher
    crop: str | None = None  # the saved crop's path, by the crop enricher
    crop_error: str | None = None  # why the crop could not be saved (the event still goes out)
    snapshot: str | None = None  # the snapshot's MQTT topic, by the snapshot enricher
    snapshot_skipped: str | None = None  # why there is no snapshot
    crop_image: np.ndarray | None = field(default=None, repr=False)  # for the crop enricher; never on the wire

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "time": self.time}
        for f in dataclasses.fields(self):
            if f.name in ("time", "crop_image") or f.name in ENRICHED:
                continue
            value = getattr(self, f.name)
            if value is None and (f.name == "id" or f.name in self.OPTIONAL):
                continue
            out[self.WIRE_NAMES.get(f.name, f.name)] = value
        out.update({k: getattr(self, k) for k in ENRICHED if getattr(self, k) is not None})
        return out

    def __getitem__(self, key: str) -> Any:
        """Read a field by its wire key (`event["class"]`), as a consumer of the JSON would."""
        return self.to_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)


# ---- the frame loop and capture --------------------------------------------------------------------------------
@dataclass(kw_only=True)
class FrameEvent(Event):
    frame_id: int | None = None
    frame_time: float | None = None
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"frame_id", "frame_time"})


@dataclass(kw_only=True)
class FrameRejected(FrameEvent):
    type: ClassVar[str] = "frame_rejected"
    reason: str
    frames: int


@dataclass(kw_only=True)
class FrameSizeChanged(FrameEvent):
    type: ClassVar[str] = "frame_size_changed"
    old: list[int]
    new: list[int]


@dataclass(kw_only=True)
class SourceError(Event):
    type: ClassVar[str] = "source_error"
    source: str
    error: str
    retry_in_s: float


@dataclass(kw_only=True)
class SourceFailed(Event):
    type: ClassVar[str] = "source_failed"
    source: str
    error: str
    attempts: int


@dataclass(kw_only=True)
class SourceRestarted(Event):
    type: ClassVar[str] = "source_restarted"
    source: str


@dataclass(kw_only=True)
class SourceLost(Event):
    """A live source that was delivering stopped (closed, killed, or silent past its read timeout)."""

    type: ClassVar[str] = "source_lost"
    source: str
    error: str
    frames: int  # frames read before the loss


@dataclass(kw_only=True)
class SourceRestored(Event):
    type: ClassVar[str] = "source_restored"
    source: str
    outage_s: float  # from the last frame before the loss to the first one after
    attempts: int  # opens it took


@dataclass(kw_only=True)
class FrameUnreadable(Event):
    type: ClassVar[str] = "frame_unreadable"
    source: str
    file: str
    error: str


@dataclass(kw_only=True)
class FrameDegraded(Event):
    """A damaged JPEG that decoded only partly: processed, and said so (libjpeg's reason)."""

    type: ClassVar[str] = "frame_degraded"
    source: str
    file: str
    reason: str


@dataclass(kw_only=True)
class FrameError(FrameEvent):
    """The app failed on a frame (and no freshly updated model could be blamed): the frame is skipped."""

    type: ClassVar[str] = "frame_error"
    error: str
    in_a_row: int


@dataclass(kw_only=True)
class ModelRolledBack(FrameEvent):
    """A model on probation after an update failed the loop: its last good build is back (edge.runtime.lastgood)."""

    type: ClassVar[str] = "model_rolled_back"
    model: str
    at: str  # "run time" or "start-up"
    reason: str


@dataclass(kw_only=True)
class SinkError(Event):
    """A sink failed (disk full, its folder gone, a closed pipe): the other sinks hear it; the loop goes on."""

    type: ClassVar[str] = "sink_error"
    sink: str
    error: str
    events_lost: int


# ---- serial peripherals ----------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class SerialPortEvent(Event):
    type: ClassVar[str] = "serial_port"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"error", "opened"})
    url: str
    state: str  # unavailable / open / lost
    error: str | None = None
    opened: int | None = None


@dataclass(kw_only=True)
class Trigger(Event):
    type: ClassVar[str] = "trigger"
    kind: str
    name: str | None
    burst_s: float
    new_burst: bool


@dataclass(kw_only=True)
class RelayAudit(Event):
    """Every relay decision. The fields after `url` appear only where the decision has them."""

    type: ClassVar[str] = "relay"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {"reason", "identity", "track_id", "frame_id", "score", "seconds", "retry_in_s", "unknown_tracks", "reply"}
    )
    action: str
    result: str
    url: str
    reason: str | None = None
    identity: str | None = None
    track_id: int | None = None
    frame_id: int | None = None
    score: float | None = None
    seconds: float | None = None
    retry_in_s: float | None = None
    unknown_tracks: list | None = None
    reply: str | None = None
