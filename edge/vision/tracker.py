"""IoU tracker: detections keep a track id across frames; a track ends when it was missed by `max_missed` detector
runs in a row plus one. Misses are counted per update, not per frame: frames the motion gate kept from the detector
(edge.loop.motion) are no evidence that a face left, so a visitor standing still stays one track."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.vision.crop import box_crop
from edge.vision.detections import Detections, iou_matrix
from edge.vision.sharpness import sharpness as image_sharpness


@dataclass
class Track:
    id: int
    box: np.ndarray
    first_frame: int
    last_frame: int
    hits: int = 1
    missed: int = 0  # detector runs in a row that did not see it
    embedded_frame: int | None = None
    embedded_area: float = 0.0
    embedded_sharpness: float = 0.0
    state: Any = None  # the app's own typed record for this track (the doorbell's FaceVotes)

    @property
    def area(self) -> float:
        return float(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0))


class IouTracker:
    def __init__(self, iou: float = 0.3, max_missed: int = 15):
        self.iou, self.max_missed = iou, max_missed
        self.tracks: dict[int, Track] = {}
        self._next = 1

    def update(self, dets: Detections, frame_id: int) -> tuple[Detections, list[Track]]:
        """Assign track ids (greedy by IoU, best pairs first); returns (detections with ids, tracks that ended)."""
        ids = np.zeros(len(dets), np.int64)
        live = list(self.tracks.values())
        if live and len(dets):
            m = iou_matrix(np.stack([t.box for t in live]), dets.boxes)
            pairs = np.dstack(np.unravel_index(np.argsort(-m, axis=None), m.shape))[0]
            used_t, used_d = set(), set()
            for ti, di in pairs:
                if m[ti, di] < self.iou:
                    break
                if ti in used_t or di in used_d:
                    continue
                used_t.add(ti)
                used_d.add(di)
                t = live[ti]
                t.box, t.last_frame, t.hits, t.missed = dets.boxes[di].copy(), frame_id, t.hits + 1, -1
                ids[di] = t.id
        for di in np.flatnonzero(ids == 0):
            t = Track(self._next, dets.boxes[di].copy(), frame_id, frame_id)
            self.tracks[t.id] = t
            ids[di] = t.id
            self._next += 1
        for t in live:
            t.missed += 1  # matched ones were set to -1 above
        ended = [t for t in self.tracks.values() if t.missed > self.max_missed]
        for t in ended:
            del self.tracks[t.id]
        return dets.with_(track_ids=ids), ended

    def flush(self) -> list[Track]:
        """End every track (the source ended or the agent stops)."""
        ended = list(self.tracks.values())
        self.tracks.clear()
        return ended


def face_sharpness(frame: np.ndarray, box: np.ndarray) -> float:
    """edge.vision.sharpness of the face box (0 for a box under 4 px or outside the frame)."""
    crop = box_crop(frame, box, 0.0)
    return 0.0 if crop is None or min(crop.shape[:2]) < 4 else image_sharpness(crop)
