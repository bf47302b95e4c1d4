"""The device loop: capture -> detect -> track -> align + embed -> match -> decide -> events."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from edge.apps.doorbell import Doorbell
from edge.capture import Capture
from edge.capture.base import check_frame
from edge.config import SiteConfig
from edge.events import EventSink, make_event
from edge.faces.detector import FaceDetector
from edge.faces.embedder import FaceEmbedder
from edge.faces.gallery import Gallery
from edge.faces.matcher import Matcher
from edge.stats import StageTimer
from edge.vision.tracker import IouTracker, needs_embedding


class DoorbellAgent:
    def __init__(self, cfg: SiteConfig, sink: EventSink, capture: Capture | None = None):
        self.cfg, self.sink = cfg, sink
        accel = cfg.runtime.accelerator
        self.detector = FaceDetector(cfg.card(cfg.detector.model), accel, cfg.detector.min_score)
        self.embedder = FaceEmbedder(cfg.card(cfg.embedder.model), accel, cfg.embedder.mirror, cfg.embedder.align)
        self.gallery = Gallery(Path(cfg.gallery.path).expanduser())
        self.tracker = IouTracker(cfg.tracking.iou, cfg.tracking.max_missed)
        self.app = Doorbell(cfg.thresholds)
        self.capture = capture or Capture(cfg.source, on_event=sink.emit)
        self.timer = StageTimer()
        self.frames = self.rejected = 0
        self._matcher, self._gallery_version = None, -1
        self.started = time.time()

    def matcher(self) -> Matcher:
        if self._gallery_version != self.gallery.version or self._matcher is None:
            vectors, names = self.gallery.matrix(self.embedder.name)
            self._matcher, self._gallery_version = Matcher(vectors, names), self.gallery.version
        return self._matcher

    def run(self, max_frames: int | None = None) -> dict:
        frame_meta = {"frame_id": 0, "frame_time": 0.0}
        t_wait = time.perf_counter()
        for frame in self.capture.frames():
            self.timer.add("capture", time.perf_counter() - t_wait)
            frame_meta = {"frame_id": frame.frame_id, "frame_time": round(frame.time, 3)}
            self.step(frame.image, frame_meta)
            if max_frames and self.frames >= max_frames:
                self.capture.stop()
                break
            t_wait = time.perf_counter()
        for track in self.tracker.flush():
            self.sink.emit(self.app.left(track, frame_meta))
        return self.stats()

    def step(self, image: np.ndarray, meta: dict) -> None:
        problem = check_frame(image)
        if problem:
            self.rejected += 1
            self.sink.emit(make_event("frame_rejected", reason=problem, **meta))
            return
        self.frames += 1
        with self.timer.stage("detect"):
            dets = self.detector.detect(image)
        with self.timer.stage("track"):
            dets, ended = self.tracker.update(dets, meta["frame_id"])
        for track in ended:
            self.sink.emit(self.app.left(track, meta))
        t = self.cfg.tracking
        wanted = [i for i, tid in enumerate(dets.track_ids)
                  if "decision" not in self.tracker.tracks[tid].data
                  and min(dets.boxes[i, 2] - dets.boxes[i, 0], dets.boxes[i, 3] - dets.boxes[i, 1]) >= self.cfg.detector.min_face_px
                  and needs_embedding(self.tracker.tracks[tid], meta["frame_id"], t.embed_every, t.embed_grow)]
        if not wanted:
            return
        sub = dets[np.asarray(wanted)]
        with self.timer.stage("align"):
            crops = self.embedder.crops(image, sub)
        with self.timer.stage("embed"):
            vectors = np.stack([self.embedder.embed_crop(c) for c in crops])
        with self.timer.stage("match"):
            names, scores = self.matcher().match(vectors)
        for k, tid in enumerate(sub.track_ids):
            track = self.tracker.tracks[tid]
            track.embedded_frame, track.embedded_area = meta["frame_id"], track.area
            event = self.app.attempt(track, names[k], float(scores[k]), meta)
            if event:
                self._save_crop(event, crops[k])
                self.sink.emit(event)

    def _save_crop(self, event: dict, crop: np.ndarray) -> None:
        if self.cfg.events.crops_dir:
            d = Path(self.cfg.events.crops_dir).expanduser()
            d.mkdir(parents=True, exist_ok=True)
            path = d / f"{event['frame_id']}-{event['track_id']}.jpg"
            cv2.imwrite(str(path), crop)
            event["crop"] = str(path)

    def stats(self) -> dict:
        elapsed = max(time.time() - self.started, 1e-9)
        return {"frames": self.frames, "fps": round(self.frames / elapsed, 2), "dropped": self.capture.dropped,
                "rejected": self.rejected, "reopened": self.capture.reopened, "stages": self.timer.summary(),
                "gallery_identities": len(self.matcher())}
