"""The device loops: capture -> detect -> track -> align + embed -> match -> decide -> events (`DoorbellAgent`), and
capture -> gate -> tiled detector -> zones -> counts (`ShelfAgent`), on what every loop shares (`Loop`).
edge.site puts a loop together with the optional parts a site config switches on."""
from __future__ import annotations

import os
import resource
import threading
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from edge.apps.doorbell import Doorbell
from edge.capture import Capture
from edge.capture.base import check_frame, expected_size
from edge.config import SiteConfig
from edge.events import EventSink, make_event
from edge.faces.detector import FaceDetector
from edge.faces.embedder import FaceEmbedder
from edge.faces.gallery import Gallery
from edge.faces.matcher import Matcher
from edge.stats import StageTimer
from edge.vision.tracker import IouTracker, face_sharpness, needs_embedding


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux: VmHWM of /proc/self/status, because ru_maxrss also counts the
    memory of the parent a process was forked from (the kernel keeps the pre-exec high-water mark)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_temperature_c() -> float | None:
    """The SoC temperature where the board exposes it (Raspberry Pi, Jetson: thermal_zone0), else None."""
    try:
        return round(int(Path("/sys/class/thermal/thermal_zone0/temp").read_text()) / 1000, 1)
    except (OSError, ValueError):
        return None


def _merge(base: dict, changes: dict) -> dict:
    """`changes` laid over `base`, section by section (nested dicts merge, anything else replaces)."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


class Loop:
    """What every app's loop shares: capture with its policy, frame checks, pacing by the peripherals, systemd
    pets, stage timings and telemetry. An app implements `process(image, meta)` and `finish(meta)`."""

    def __init__(self, cfg: SiteConfig, sink: EventSink, capture: Capture | None = None, peripherals=None, notifier=None):
        self.cfg, self.sink = cfg, sink
        self.capture = capture or Capture(cfg.source, on_event=sink.emit)
        self.peripherals, self.notifier = peripherals, notifier
        self.timer = StageTimer()
        self.frames = self.rejected = self.idle_skipped = 0
        self._recent = deque(maxlen=120)  # monotonic times of recent frames, for the current fps
        self._stop = threading.Event()
        self._size: tuple[int, int] | None = None
        self._last_problem, self._last_reject_event, self._rejected_since = None, float("-inf"), 0
        self.started = time.time()
        self.latest: tuple[np.ndarray, dict] | None = None  # the newest accepted frame (a reference: snapshots, smoke tests)
        self.snapshots = None  # edge.io.snapshots.Snapshots when MQTT is on: event snapshots before the event leaves
        self.restart_requested = False
        # The interpreters are used by the loop and by the MQTT thread (an `enroll` command, a model swapped in by an
        # update): one at a time.
        self.models_lock = threading.Lock()

    LIVE_SECTIONS: frozenset[str] = frozenset()  # config sections this app can take without a restart

    def process(self, image: np.ndarray, meta: dict) -> None:
        raise NotImplementedError

    def reconfigure(self, changes: dict) -> dict:
        """Apply part of the site config while running (the MQTT `set_config` command). The merged config is
        validated as a whole first, so a bad value changes nothing; a section that needs a restart is refused by
        name. Safe from another thread: the loop reads `self.cfg` afresh on every frame."""
        from edge.config import parse_config
        from edge.errors import EdgekitError

        if not isinstance(changes, dict) or not changes:
            raise EdgekitError("set_config: 'config' must be a non-empty object of sections", 'e.g. {"thresholds": {"recognize": 0.65}}')
        current = self.cfg.model_dump(mode="json")
        new = parse_config(_merge(current, changes), "set_config")
        after = new.model_dump(mode="json")
        changed = sorted(k for k in after if after[k] != current.get(k))
        refused = [k for k in changed if k not in self.LIVE_SECTIONS]
        if refused:
            raise EdgekitError(f"set_config: {', '.join(refused)} cannot change while running (live: "
                               f"{', '.join(sorted(self.LIVE_SECTIONS)) or 'none'})", "change the site YAML and restart")
        self.cfg = new
        self.applied(new)
        return {"applied": changed}

    def applied(self, cfg: SiteConfig) -> None:
        """Take a new config's live sections into the app's parts."""

    def finish(self, meta: dict) -> None:
        """The source ended or the loop stops: close what is open (tracks)."""

    def resized(self, meta: dict) -> None:
        """The frame size changed (a camera reopened at another resolution)."""

    def stop(self) -> None:
        """Safe from a signal handler: only sets flags."""
        self._stop.set()
        self.capture.stop()

    def request_restart(self) -> None:
        """Stop gracefully; `edgekit run` then starts afresh in the same process (re-reads config, models, gallery)."""
        self.restart_requested = True
        self.stop()

    # ---- models: what runs, and swapping one in while running (a model update) ----
    def models(self) -> dict:
        """{card name: Model} of the models this app runs now."""
        return {}

    def model_versions(self) -> dict:
        """What `status` and `state` report: card name -> target and sha256 of the running file."""
        return {name: {"target": m.card.target, "sha256": m.card.sha256} for name, m in self.models().items()}

    def reload_model(self, name: str, card_path: Path) -> bool:
        """Take the (already installed and smoke-tested) files of model `name` into the running app. False if the
        app does not run that model; EdgekitError if the app cannot use it (the update is then rolled back)."""
        if name not in self.models():
            return False
        self._reload(name, card_path)
        return True

    def _reload(self, name: str, card_path: Path) -> None:
        raise NotImplementedError

    def emit(self, event: dict) -> None:
        if self.peripherals is not None:
            self.peripherals.annotate(event)
            self.peripherals.on_event(event)  # the relay decides on face events before anyone else sees them
        if self.snapshots is not None:
            self.snapshots.on_event(event)  # the frame that decided, with the event naming its topic
        self.sink.emit(event)

    def run(self, max_frames: int | None = None) -> dict:
        frame_meta = {"frame_id": 0, "frame_time": 0.0}
        if self.notifier is not None:
            self.notifier.ready("models loaded; opening " + self.capture.source.name)  # credentials masked
        t_wait = time.perf_counter()
        for frame in self.capture.frames():
            self.timer.add("capture", time.perf_counter() - t_wait)
            frame_meta = {"frame_id": frame.frame_id, "frame_time": round(frame.time, 3)}
            if frame.gap_s is not None:  # the source was lost and came back: nothing seen before continues
                self.finish(frame_meta)
            self.step(frame.image, frame_meta)
            if self.notifier is not None:
                self.notifier.frame()
            if (max_frames and self.frames >= max_frames) or self._stop.is_set():
                self.capture.stop()
                break
            self._idle()
            t_wait = time.perf_counter()
        self.finish(frame_meta)
        return self.stats()

    def _idle(self) -> None:
        """Outside a trigger burst the peripherals ask for a low frame rate; frames the camera delivers meanwhile are
        skipped on purpose and counted apart from drops under load."""
        gap = self.peripherals.min_frame_interval() if self.peripherals is not None else 0.0
        if gap > 0:
            before = self.capture.dropped
            end = time.monotonic() + gap
            # wake early when a trigger starts a burst
            while not self._stop.is_set() and time.monotonic() < end and not self.peripherals.burst_active():
                self._stop.wait(min(0.05, end - time.monotonic()))
            self.idle_skipped += self.capture.dropped - before

    def step(self, image: np.ndarray, meta: dict) -> None:
        problem = check_frame(image, expected_size(self.cfg.source))
        if problem:
            self._reject(problem, meta)
            return
        if image.ndim == 2 or image.shape[2] == 1:  # grey cameras: the models take three channels
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        size = (image.shape[1], image.shape[0])
        if size != self._size:
            if self._size is not None:
                self.sink.emit(make_event("frame_size_changed", old=list(self._size), new=list(size), **meta))
                self.resized(meta)
            self._size = size
        self.frames += 1
        self._recent.append(time.monotonic())
        self.latest = (image, meta)
        self.process(image, meta)

    REJECT_REPEAT_S = 10.0

    def _reject(self, problem: str, meta: dict) -> None:
        """One event per new problem, then at most one per 10 s while it lasts (with how many frames it cost), so a
        camera stuck delivering bad frames does not flood the sink at its frame rate. `frames`: frames rejected since
        the previous report, this one included."""
        self.rejected += 1
        self._rejected_since += 1
        now = time.monotonic()
        if problem != self._last_problem or now - self._last_reject_event >= self.REJECT_REPEAT_S:
            self.sink.emit(make_event("frame_rejected", reason=problem, frames=self._rejected_since, **meta))
            self._last_problem, self._last_reject_event, self._rejected_since = problem, now, 0

    def current_fps(self) -> float:
        recent = list(self._recent)
        if len(recent) < 2 or time.monotonic() - recent[-1] > 5:
            return 0.0
        return round((len(recent) - 1) / max(recent[-1] - recent[0], 1e-9), 2)

    def stats(self) -> dict:
        elapsed = max(time.time() - self.started, 1e-9)
        return {"frames": self.frames, "fps": round(self.frames / elapsed, 2), "dropped": self.capture.dropped - self.idle_skipped,
                "idle_skipped": self.idle_skipped, "rejected": self.rejected, "reopened": self.capture.reopened,
                "stages": self.timer.summary(), "peak_rss_mb": peak_rss_mb()}

    def telemetry(self) -> dict:
        """What the MQTT link publishes every telemetry interval (called from its thread: reads only)."""
        data = {"fps": self.current_fps(), "frames": self.frames, "dropped": self.capture.dropped - self.idle_skipped,
                "idle_skipped": self.idle_skipped, "rejected": self.rejected, "reopened": self.capture.reopened,
                "stages": self.timer.summary(), "uptime_s": round(time.time() - self.started, 1), "peak_rss_mb": peak_rss_mb()}
        if hasattr(os, "getloadavg"):
            data["load1"] = round(os.getloadavg()[0], 2)
        temp = cpu_temperature_c()
        if temp is not None:
            data["cpu_temp_c"] = temp
        if self.peripherals is not None:
            data["peripherals"] = self.peripherals.stats()
            pos = self.peripherals.position()
            if pos is not None:
                data["position"] = pos
        return data


class DoorbellAgent(Loop):
    LIVE_SECTIONS = frozenset({"thresholds", "tracking"})

    def __init__(self, cfg: SiteConfig, sink: EventSink, capture: Capture | None = None, peripherals=None, notifier=None):
        super().__init__(cfg, sink, capture, peripherals, notifier)
        accel = cfg.runtime.accelerator
        self.detector = FaceDetector(cfg.card(cfg.detector.model), accel, cfg.detector.min_score)
        self.embedder = FaceEmbedder(cfg.card(cfg.embedder.model), accel, cfg.embedder.mirror, cfg.embedder.align)
        self.gallery = Gallery(Path(cfg.gallery.path).expanduser())
        self.tracker = IouTracker(cfg.tracking.iou, cfg.tracking.max_missed)
        self.app = Doorbell(cfg.thresholds)
        self.faces_embedded = 0
        self.decisions = {"face_recognized": 0, "face_unknown": 0}
        self._matcher, self._gallery_version = None, -1
        self._crops_written = 0

    def matcher(self) -> Matcher:
        if self._gallery_version != self.gallery.version or self._matcher is None:
            vectors, names = self.gallery.matrix(self.embedder.name)
            self._matcher, self._gallery_version = Matcher(vectors, names), self.gallery.version
        return self._matcher

    def models(self) -> dict:
        return {self.detector.model.card.name: self.detector.model, self.embedder.name: self.embedder.model}

    def _reload(self, name: str, card_path: Path) -> None:
        """A new detector swaps in as is. A new embedder must compute the same embeddings as the one the gallery was
        enrolled with (same trained weights: a re-quantised build, a build for another target); other weights would
        make every stored identity a stranger, and the gallery keeps no photos to re-enrol from."""
        from edge.errors import EdgekitError

        accel = self.cfg.runtime.accelerator
        if name == self.detector.model.card.name:
            new = FaceDetector(card_path, accel, self.cfg.detector.min_score)
            with self.models_lock:
                self.detector = new
            return
        new = FaceEmbedder(card_path, accel, self.cfg.embedder.mirror, self.cfg.embedder.align)
        old_weights, new_weights = self.embedder.model.card.source.get("sha256"), new.model.card.source.get("sha256")
        enrolled = len(Gallery(self.gallery.path).identities(self.embedder.name))  # own connection: any thread
        if enrolled and old_weights != new_weights:
            raise EdgekitError(f"model {name}: its weights (source sha256 {str(new_weights)[:12]}) differ from those the "
                               f"gallery's {enrolled} identities were enrolled with ({str(old_weights)[:12]})",
                               "push a build of the same weights, or clear the gallery and re-enrol after updating")
        if new.dim != self.embedder.dim:
            raise EdgekitError(f"model {name}: embeds into {new.dim} dimensions, the running one into {self.embedder.dim}")
        with self.models_lock:
            self.embedder, self._matcher = new, None  # the matcher is rebuilt from the gallery on the next face

    def applied(self, cfg: SiteConfig) -> None:
        self.app.t = cfg.thresholds  # decisions already made stand; open tracks decide by the new thresholds
        self.tracker.iou, self.tracker.max_missed = cfg.tracking.iou, cfg.tracking.max_missed

    def finish(self, meta: dict) -> None:
        for track in self.tracker.flush():
            self._ended(track, meta)

    def _ended(self, track, meta: dict) -> None:
        for event in self.app.end(track, meta):
            if event["type"] == "face_unknown":
                self.decisions["face_unknown"] += 1
            self.emit(event)

    resized = finish  # tracks from frames of the old size are void

    def process(self, image: np.ndarray, meta: dict) -> None:
        with self.models_lock:
            self._process(image, meta)

    def enroll(self, name: str, image: np.ndarray, source: str = "") -> int:
        """Enrol one picture (exactly one clear face, or EdgekitError saying why), from any thread."""
        from edge.errors import EdgekitError
        from edge.faces.enroll import EnrollRules, check_and_embed

        with self.models_lock:
            vector, why = check_and_embed(self.detector, self.embedder, image, EnrollRules())
        if vector is None:
            raise EdgekitError(f"enroll {name}: picture refused ({why})", "send one sharp picture of one face")
        return Gallery(self.gallery.path).add(name, self.embedder.name, vector, source)  # own connection: any thread

    def _process(self, image: np.ndarray, meta: dict) -> None:
        with self.timer.stage("detect"):
            dets = self.detector.detect(image)
        with self.timer.stage("track"):
            dets, ended = self.tracker.update(dets, meta["frame_id"])
        for track in ended:
            self._ended(track, meta)
        t = self.cfg.tracking
        wanted, sharpness = [], {}
        for i, tid in enumerate(dets.track_ids):
            track, box = self.tracker.tracks[tid], dets.boxes[i]
            if "decision" in track.data or min(box[2] - box[0], box[3] - box[1]) < self.cfg.detector.min_face_px:
                continue
            sharpness[tid] = face_sharpness(image, box)
            if needs_embedding(track, meta["frame_id"], t.embed_every, t.embed_grow, sharpness[tid], t.embed_sharpen):
                wanted.append(i)
        if not wanted:
            return
        sub = dets[np.asarray(wanted)]
        self.faces_embedded += len(sub)
        with self.timer.stage("align"):
            crops = self.embedder.crops(image, sub)
        with self.timer.stage("embed"):
            vectors = np.stack([self.embedder.embed_crop(c) for c in crops])
        with self.timer.stage("match"):
            names, scores = self.matcher().match(vectors)
        for k, tid in enumerate(sub.track_ids):
            track = self.tracker.tracks[tid]
            track.embedded_frame, track.embedded_area = meta["frame_id"], track.area
            track.embedded_sharpness = sharpness[tid]
            event = self.app.attempt(track, names[k], float(scores[k]), meta)
            if event:
                self.decisions[event["type"]] += 1
                self._save_crop(event, crops[k])
                self.emit(event)

    def _save_crop(self, event: dict, crop: np.ndarray) -> None:
        if self.cfg.events.crops_dir:
            d = Path(self.cfg.events.crops_dir).expanduser()
            d.mkdir(parents=True, exist_ok=True)
            path = d / f"{int(time.time() * 1000)}-{event['frame_id']}-{event['track_id']}.jpg"  # names sort by time
            if cv2.imwrite(str(path), crop):
                event["crop"] = str(path)
            self._crops_written += 1
            if self._crops_written % 50 == 1:  # prune now and then, not on every write
                crops = sorted(d.glob("*.jpg"))
                for old in crops[: max(0, len(crops) - self.cfg.events.crops_keep)]:
                    old.unlink(missing_ok=True)

    def stats(self) -> dict:
        return {**super().stats(), "faces_embedded": self.faces_embedded, "gallery_identities": len(self.matcher())}

    def telemetry(self) -> dict:
        return {**super().telemetry(), "tracks": len(self.tracker.tracks), **self.decisions}


class ShelfAgent(Loop):
    """The shelf app (edge.apps.shelf_run) in the same loop: scene gate, tiled detector, zones, smoothing, holds."""

    def __init__(self, cfg: SiteConfig, sink: EventSink, capture: Capture | None = None, peripherals=None, notifier=None):
        super().__init__(cfg, sink, capture, peripherals, notifier)
        from edge.apps.shelf_run import ShelfRun

        self.app = ShelfRun(cfg.shelf, cfg.models_dir(), cfg.runtime.accelerator)
        self.events = 0

    def models(self) -> dict:
        found = {self.app.detector.card.name: self.app.detector.model}
        if self.app.classifier is not None:
            found[self.app.classifier.model.card.name] = self.app.classifier.model
        return found

    def _reload(self, name: str, card_path: Path) -> None:
        with self.models_lock:
            self.app.reload(name, card_path, self.cfg.runtime.accelerator)

    def process(self, image: np.ndarray, meta: dict) -> None:
        with self.timer.stage("shelf"), self.models_lock:  # gate, detect (tiled), zones, smoothing
            events = self.app.process(image, meta["frame_time"])
        for event in events:
            self.events += 1
            self.emit({**event, "frame_id": meta["frame_id"]})

    def telemetry(self) -> dict:
        return {**super().telemetry(), "events": self.events, "shelf": self.app.shelf.state()}


AGENTS = {"doorbell": DoorbellAgent, "shelf": ShelfAgent}
