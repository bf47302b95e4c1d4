"""The doorbell's learning from its own camera, between the vote and the gallery: the embeddings a track was seen
with become an unknown visitor's visit (edge.faces.unknowns), the memory of a decision for `reject EVENT_ID`
(edge.faces.feedback), or an adapted view of the identity recognised (edge.faces.adapt). The gallery stores it all
(edge.faces.learned); a gallery that cannot be written leaves recognition running and says why once."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from edge.errors import EdgekitError

log = logging.getLogger(__name__)
MAX_VIEWS = 32  # embeddings remembered per open track


@dataclass
class View:
    vector: np.ndarray
    identity: str | None  # the best match (None: no gallery, or refused by a negative)
    score: float


class DoorbellLearner:
    def __init__(self, gallery, cfg):
        self.gallery, self.cfg = gallery, cfg
        self.views: dict[int, list[View]] = {}
        self.crops: dict[int, np.ndarray] = {}
        self.error: str | None = None
        self.counts = {"visits": 0, "remembered": 0, "adapted": 0}

    def saw(self, track_id: int, vector: np.ndarray, identity, score: float, crop: np.ndarray | None) -> None:
        views = self.views.setdefault(track_id, [])
        if len(views) < MAX_VIEWS:
            views.append(View(np.asarray(vector, np.float32), identity, score))
        if crop is not None:
            self.crops[track_id] = crop

    def forget(self, track_id: int) -> None:
        self.views.pop(track_id, None)
        self.crops.pop(track_id, None)

    def before(self, event, track, tag) -> None:
        """An unknown decision: cluster the track into a visitor and name it on the event."""
        u = self.cfg.learning.unknowns
        views = self.views.get(track.id)
        if event.type != "face_unknown" or not u.enabled or not views:
            return
        t = self.cfg.thresholds
        threshold = u.threshold if u.threshold is not None else (t.unlock if t.unlock is not None else t.instant)
        thumb = self._thumbnail(track.id) if u.thumbnails else None
        visitor = self._safely(lambda: self.gallery.record_visit(tag, track_vector(views), u, threshold, thumb))
        if visitor is not None:
            event.visitor, event.seen, event.first_seen = visitor.id, visitor.seen, round(visitor.first_seen, 3)
            self.counts["visits"] += 1

    def after(self, event, track, tag) -> None:
        """Once the bus stamped the event's id: remember its embedding; adapt the identity on a sure match."""
        views = self.views.get(track.id)
        if not views or not event.id:
            return
        identity = getattr(event, "identity", None)
        own = [v for v in views if identity is not None and v.identity == identity]
        vector = track_vector(views)  # who stood at the door: what a rejection of this event makes a negative
        keep = self.cfg.learning.recent_events
        visitor = getattr(event, "visitor", None)
        if self._safely(lambda: self.gallery.remember_event(event.id, tag, vector, identity, visitor, keep) or True):
            self.counts["remembered"] += 1
        a = self.cfg.learning.adapt
        if identity is None or not a.enabled or not own:
            return
        t = self.cfg.thresholds
        min_score = a.min_score if a.min_score is not None else (t.unlock if t.unlock is not None else t.instant)
        candidates, scores = np.stack([v.vector for v in own]), np.asarray([v.score for v in own])
        if self._safely(lambda: self.gallery.adapt(identity, tag, candidates, scores, event.id, a, min_score)):
            self.counts["adapted"] += 1

    def _thumbnail(self, track_id: int) -> bytes | None:
        import cv2

        crop = self.crops.get(track_id)
        if crop is None:
            return None
        px = self.cfg.learning.unknowns.thumbnail_px
        ok, jpeg = cv2.imencode(".jpg", cv2.resize(crop, (px, px)), [cv2.IMWRITE_JPEG_QUALITY, 85])
        return jpeg.tobytes() if ok else None

    def _safely(self, work):
        try:
            return work()
        except EdgekitError as e:
            if str(e) != self.error:
                log.warning("learning from the camera is off: %s", e)
            self.error = str(e)
            return None


def track_vector(views: list[View]) -> np.ndarray:
    """One unit vector for a track: the normalised mean of its views (steadier than any single one)."""
    m = np.mean([v.vector for v in views], axis=0)
    return (m / max(float(np.linalg.norm(m)), 1e-12)).astype(np.float32)
