"""Snapshots: a JPEG of the camera's latest frame on `snapshot/<camera>` (raw JPEG bytes, as Home Assistant's MQTT
camera expects), on demand (the `snapshot` command) and, when `mqtt.snapshots.on_events` lists them, for the events
that decide something. The loop hands over its latest frame by reference (no copy per frame); encoding happens
only when a snapshot is taken. Snapshots skip the outbox: they are large, and an event's crop (events.crops_dir) is
the durable record; while the broker is away an event's snapshot is skipped and the event says so."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np

from edge.errors import EdgekitError
from edge.fleet.config import SnapshotConfig


def encode_jpeg(frame: np.ndarray, quality: int, max_width: int) -> bytes:
    if frame.shape[1] > max_width:  # a 4K frame would not fit a broker's message limit
        scale = max_width / frame.shape[1]
        frame = cv2.resize(frame, (max_width, max(1, round(frame.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    ok, jpg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise EdgekitError("snapshot: OpenCV could not encode the frame as JPEG")
    return jpg.tobytes()


class Snapshots:
    def __init__(self, cfg: SnapshotConfig, link, latest: Callable[[], tuple[np.ndarray, dict] | None]):
        self.cfg, self.link, self.latest = cfg, link, latest
        self.topic = link.snapshot_topic(cfg.camera)
        self._last_event_snapshot = float("-inf")
        self.sent = 0

    def take(self) -> dict:
        """Publish the latest frame now; what was sent (topic, bytes, size, frame_id)."""
        got = self.latest()
        if got is None:
            raise EdgekitError(
                "snapshot: no frame has been captured yet", "retry once the camera delivers frames (see telemetry fps)"
            )
        frame, meta = got
        jpg = encode_jpeg(frame, self.cfg.quality, self.cfg.max_width)
        if not self.link.publish_snapshot(self.cfg.camera, jpg):
            raise EdgekitError("snapshot: not connected to the broker", "retry when the device's status is online")
        self.sent += 1
        return {
            "topic": self.topic,
            "bytes": len(jpg),
            "frame_id": meta.get("frame_id"),
            "frame_time": meta.get("frame_time"),
        }

    def command(self, body: dict) -> dict:
        """Publish a JPEG of the camera's latest frame on snapshot/<camera>."""
        return self.take()

    def enrich(self, event) -> None:
        """The snapshot enricher (the bus calls it before an event is sent): the decisive frame, at most once per
        min_interval_s, with the event naming its topic."""
        if event.type not in self.cfg.on_events:
            return
        now = time.monotonic()
        if now - self._last_event_snapshot < self.cfg.min_interval_s:
            return
        try:
            event.snapshot = self.take()["topic"]
            self._last_event_snapshot = now
        except EdgekitError as e:  # the event goes out regardless; it says why it has no picture
            event.snapshot_skipped = e.what
