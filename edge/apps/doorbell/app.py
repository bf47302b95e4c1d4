"""The doorbell app: detect -> track -> (schedule) align + embed -> match -> vote -> events. Its models are the face
detector and embedder; live sections thresholds and tracking; commands enrol, list and remove identities."""

from __future__ import annotations

import base64
import binascii
import time
from pathlib import Path

import numpy as np

from edge.apps.base import App, AppContext, Command
from edge.apps.doorbell.learner import DoorbellLearner
from edge.apps.doorbell.policy import DoorbellVote, card_thresholds, needs_embedding
from edge.errors import EdgekitError
from edge.faces.detector import FaceDetector
from edge.faces.embedder import FaceEmbedder
from edge.faces.feedback import Negatives
from edge.faces.gallery import EmbedderTag, Gallery, recipe_differences
from edge.faces.matcher import Matcher
from edge.images import decode_picture
from edge.vision.regions import detect_around
from edge.vision.tracker import IouTracker, face_sharpness


class DoorbellApp(App):
    live_sections = frozenset({"thresholds", "tracking", "learning"})

    def __init__(self, cfg, ctx: AppContext):
        super().__init__(cfg, ctx)
        accel = cfg.runtime.accelerator
        self.detector = FaceDetector(cfg.card(cfg.detector.model), accel, cfg.detector.min_score)
        self.embedder = FaceEmbedder(cfg.card(cfg.embedder.model), accel, cfg.embedder.mirror, cfg.embedder.align)
        self.site_cfg = cfg  # as the site wrote it: a new embedder card fills in the points it leaves out
        self.cfg = cfg = self._with_card_thresholds(cfg, self.embedder)
        self.gallery = Gallery(Path(cfg.gallery.path).expanduser())
        self.tracker = IouTracker(cfg.tracking.iou, cfg.tracking.max_missed)
        self.vote = DoorbellVote(cfg.thresholds)
        self.faces_embedded = self.faces_mirrored = 0  # faces seen live; those that took the mirror image too
        self.decisions = {"face_recognized": 0, "face_unknown": 0}
        self._matcher, self._negatives, self._enrolled, self._gallery_version = None, None, None, -1
        self.learner = DoorbellLearner(self.gallery, cfg)
        self.gallery_updates, self.last_gallery_update, self._outcomes = None, None, None
        if cfg.mqtt is not None:  # `edgekit fleet push-gallery`: refused unless mqtt.gallery_update trusts a key
            from edge.fleet.gallery_update import GalleryUpdater
            from edge.fleet.outcomes import Outcomes, outcomes_path_for

            self._outcomes = Outcomes(outcomes_path_for(cfg.mqtt.outbox.path))
            self.last_gallery_update = self._outcomes.get("gallery_update")  # the last push's, from before a restart
            self.gallery_updates = GalleryUpdater(
                cfg.mqtt.gallery_update, self.gallery.path, lambda: EmbedderTag.of(self.embedder), self._gallery_pushed
            )

    # ---- config ----
    @staticmethod
    def _with_card_thresholds(cfg, embedder):
        """The site's thresholds, with the points it leaves out from the embedder's card (its own scale)."""
        return cfg.model_copy(update={"thresholds": card_thresholds(cfg.thresholds, embedder)})

    # ---- models ----
    def models(self) -> dict:
        return {self.detector.model.card.name: self.detector.model, self.embedder.name: self.embedder.model}

    def reload_model(self, name: str, card_path: Path) -> None:
        """A new detector swaps in as is. A new embedder must compute the same embeddings as the one the gallery was
        enrolled with (same trained weights: a re-quantised build, a build for another target); other weights would
        make every stored identity a stranger, and the gallery keeps no photos to re-enrol from."""
        accel = self.cfg.runtime.accelerator
        if name == self.detector.model.card.name:
            new = FaceDetector(card_path, accel, self.cfg.detector.min_score)
            with self.ctx.models_lock:
                self.detector = new
            return
        new = FaceEmbedder(card_path, accel, self.cfg.embedder.mirror, self.cfg.embedder.align)
        old_weights, new_weights = self.embedder.model.card.source.get("sha256"), new.model.card.source.get("sha256")
        enrolled = len(Gallery(self.gallery.path).identities(self.embedder.name))  # own connection: any thread
        if enrolled and old_weights != new_weights:
            raise EdgekitError(
                f"model {name}: its weights (source sha256 {str(new_weights)[:12]}) differ from those "
                f"the gallery's {enrolled} identities were enrolled with ({str(old_weights)[:12]})",
                "push a build of the same weights, or clear the gallery and re-enrol after updating",
            )
        if new.dim != self.embedder.dim:
            raise EdgekitError(
                f"model {name}: embeds into {new.dim} dimensions, the running one into {self.embedder.dim}"
            )
        changed = recipe_differences(EmbedderTag.of(self.embedder).recipe, EmbedderTag.of(new).recipe)
        if enrolled and changed:  # same weights fed another chip: the same face lands elsewhere
            raise EdgekitError(
                f"model {name}: its {', '.join(changed)} differ from the build the gallery's {enrolled} identities "
                "were enrolled with, so the same faces would embed elsewhere",
                "push a build with the same card inputs, or clear the gallery and re-enrol after updating",
            )
        cfg = self._with_card_thresholds(self.site_cfg, new)  # the new card's points; refused here if contradictory
        with self.ctx.models_lock:
            self.embedder, self._matcher = new, None  # the matcher is rebuilt from the gallery on the next face
            self._take(cfg)

    def matcher(self) -> Matcher:
        if self._gallery_version != self.gallery.version or self._matcher is None:
            tag = EmbedderTag.of(self.embedder)
            vectors, names = self.gallery.matrix(tag)
            self._matcher, self._gallery_version = Matcher(vectors, names), self.gallery.version
            self._negatives = self._enrolled = None
        return self._matcher

    def _enrolled_unlock(self, identity: str, track_id: int) -> bool:
        """Whether one of the track's views reaches `unlock` against the identity's enrolled embeddings alone (the
        door does not open on what adaptation added)."""
        self.matcher()
        if self._enrolled is None:
            vectors, names = self.gallery.matrix(EmbedderTag.of(self.embedder), enrolled_only=True)
            self._enrolled = vectors, names
        vectors, names = self._enrolled
        own = vectors[names == identity]
        views = [v.vector for v in self.learner.views.get(track_id, []) if v.identity == identity]
        t = self.cfg.thresholds
        unlock = t.recognize if t.unlock is None else t.unlock
        return bool(len(own) and views and float((np.stack(views) @ own.T).max()) >= unlock)

    def negatives(self) -> Negatives:
        """The gallery's negatives, rebuilt with the matcher (both follow the gallery's version)."""
        self.matcher()
        if self._negatives is None:
            tag, n = EmbedderTag.of(self.embedder), self.cfg.learning.negatives
            self._negatives = Negatives(*self.gallery.negatives(tag), n.margin) if n.enabled else Negatives([], [])
        return self._negatives

    # ---- frames ----
    def applied(self, cfg) -> None:
        self.site_cfg = cfg
        self._take(self._with_card_thresholds(cfg, self.embedder))

    def _take(self, cfg) -> None:
        """A config with its thresholds resolved, into the app's parts."""
        super().applied(cfg)
        self.vote.t = cfg.thresholds  # decisions already made stand; open tracks decide by the new thresholds
        self.learner.cfg = cfg
        self._matcher = None  # negatives' margin may have changed
        self.tracker.iou, self.tracker.max_missed = cfg.tracking.iou, cfg.tracking.max_missed

    def finish(self, meta: dict) -> None:
        for track in self.tracker.flush():
            self._ended(track, meta)

    def _ended(self, track, meta: dict) -> None:
        for event in self.vote.end(track, meta):
            if event.type == "face_unknown":
                self.decisions["face_unknown"] += 1
            self._emit(event, track)
        self.learner.forget(track.id)

    def _emit(self, event, track) -> None:
        """A decision goes out with what the learner adds (the unknown visitor), then the learner keeps its
        embedding under the event id the bus stamped (for `reject`), and adapts the identity on a sure match."""
        if event.type in ("face_recognized", "face_unknown"):
            self.learner.before(event, track, EmbedderTag.of(self.embedder))
        if event.type == "face_recognized" and event.unlock and not self.cfg.learning.adapt.unlock:
            event.unlock = self._enrolled_unlock(event.identity, track.id)
        self.ctx.emit(event)
        if event.type in ("face_recognized", "face_unknown"):
            self.learner.after(event, track, EmbedderTag.of(self.embedder))

    def process(self, image: np.ndarray, meta: dict) -> None:
        with self.ctx.models_lock:
            self._process(image, meta)

    def _process(self, image: np.ndarray, meta: dict) -> None:
        timer = self.ctx.timer
        with timer.stage("detect"):
            dets = self._detect(image)
        with timer.stage("track"):
            dets, ended = self.tracker.update(dets, meta["frame_id"])
        for track in ended:
            self._ended(track, meta)
        wanted, sharpness = self._to_embed(image, dets, meta["frame_id"])
        if not wanted:
            return
        sub = dets[np.asarray(wanted)]
        self.faces_embedded += len(sub)
        with timer.stage("align"):
            crops = self.embedder.crops(image, sub)
        once = self.embedder.mirror and self.cfg.embedder.live_mirror == "undecided"
        with timer.stage("embed"):
            vectors = np.stack([self.embedder.embed_once(c) if once else self.embedder.embed_crop(c) for c in crops])
        t = time.perf_counter()
        names, scores = self.matcher().match(vectors)
        matching = time.perf_counter() - t
        if once:
            self._mirror_undecided(crops, vectors, names, scores)  # its own stage: "mirror"
        elif self.embedder.mirror:
            self.faces_mirrored += len(sub)
        t = time.perf_counter()
        names = self.negatives().filter(names, scores, vectors)  # "that was not Ann": refused, counted unknown
        timer.add("match", matching + time.perf_counter() - t)
        for k, tid in enumerate(sub.track_ids):
            track = self.tracker.tracks[tid]
            track.embedded_frame, track.embedded_area = meta["frame_id"], track.area
            track.embedded_sharpness = sharpness[tid]
            self.learner.saw(tid, vectors[k], names[k], float(scores[k]), crops[k])
            event = self.vote.attempt(track, names[k], float(scores[k]), meta)
            if event:
                self.decisions[event.type] += 1
                event.crop_image = crops[k]  # the crop enricher saves it when events.crops_dir is set
                self._emit(event, track)

    def _mirror_undecided(self, crops, vectors, names, scores) -> None:
        """The mirror image's inference for the faces whose one-view score can still change a decision (in place):
        the card's mirrored accuracy at the cost of one inference for faces that are clearly someone or nobody."""
        lo, hi = self.cfg.thresholds.undecided_band(mirror_margin(self.cfg, self.embedder))
        second = np.flatnonzero([n is not None and lo <= s <= hi for n, s in zip(names, scores)])
        if not len(second):
            return
        with self.ctx.timer.stage("mirror"):
            for k in second:
                vectors[k] = self.embedder.add_mirror(crops[k], vectors[k])
            names[second], scores[second] = self.matcher().match(vectors[second])
        self.faces_mirrored += len(second)

    def tracking(self) -> bool:
        return bool(self.tracker.tracks)

    def _detect(self, image: np.ndarray):
        """The whole frame, or only around the motion and the live tracks when the gate says where (motion.regions):
        a visitor standing still while a car passes elsewhere is still looked for."""
        motion = self.ctx.motion
        if motion is None or motion.boxes is None:
            return self.detector.detect(image)
        boxes = np.concatenate([motion.boxes, *(t.box[None] for t in self.tracker.tracks.values())])
        return detect_around(
            self.detector.detect, image, boxes, self.detector.model.input_size, motion.cfg.region_margin
        )

    def _to_embed(self, image: np.ndarray, dets, frame_id: int) -> tuple[list[int], dict]:
        """Which undecided, big enough faces the schedule wants embedded on this frame (and their sharpness)."""
        t = self.cfg.tracking
        wanted, sharpness = [], {}
        for i, tid in enumerate(dets.track_ids):
            track, box = self.tracker.tracks[tid], dets.boxes[i]
            if self.vote.decided(track) or min(box[2] - box[0], box[3] - box[1]) < self.cfg.detector.min_face_px:
                continue
            sharpness[tid] = face_sharpness(image, box)
            if needs_embedding(track, frame_id, t.embed_every, t.embed_grow, sharpness[tid], t.embed_sharpen):
                wanted.append(i)
        return wanted, sharpness

    # ---- commands and state (called from the MQTT thread: own gallery connections) ----
    def enroll(self, name: str, image: np.ndarray, source: str = "") -> int:
        """Enrol one picture (exactly one clear face, or EdgekitError saying why), from any thread."""
        from edge.faces.enroll import EnrollRules, check_and_embed

        with self.ctx.models_lock:
            vector, why = check_and_embed(self.detector, self.embedder, image, EnrollRules())
        if vector is None:
            raise EdgekitError(f"enroll {name}: picture refused ({why})", "send one sharp picture of one face")
        return Gallery(self.gallery.path).add(name, EmbedderTag.of(self.embedder), vector, source)

    def commands(self) -> dict[str, Command]:
        return {
            "identities": Command(self._identities, read_only=True),
            "remove_identity": Command(self._remove, True),
            "enroll": Command(self._enroll, True),
            "unknowns": Command(self._unknowns, read_only=True),
            "name_visitor": Command(self._name_visitor, True),
            "reject": Command(self._reject, True),
        } | (
            {"gallery_update": Command(self._gallery_update, True, changes_state_on=_not_a_chunk)}
            if self.gallery_updates
            else {}
        )

    def _gallery_update(self, body: dict) -> dict:
        """Replace the gallery with a signed export pushed in chunks (begin / chunk / commit / abort)."""
        return self.gallery_updates.command(body)

    def _gallery_pushed(self, outcome: dict) -> None:
        self.last_gallery_update = outcome  # in the retained state: the fleet page shows each door's outcome
        self._outcomes.put("gallery_update", outcome)

    def _unknowns(self, body: dict) -> dict:
        """{"visitors": [{id, seen, first_seen, last_seen, thumbnail: base64 JPEG or null}]}, most recent first."""
        visitors = Gallery(self.gallery.path).visitors(EmbedderTag.of(self.embedder))
        return {"visitors": [v.to_json() for v in visitors]}

    def _name_visitor(self, body: dict) -> dict:
        """{"visitor": "visitor-7", "name": "Ann"}: that visitor's embeddings are enrolled as Ann."""
        visitor, name = body["visitor"], body["name"]
        if not isinstance(visitor, str) or not isinstance(name, str) or not name.strip():
            raise ValueError("'visitor' must be a visitor id (visitor-7) and 'name' a non-empty string")
        n = Gallery(self.gallery.path).name_visitor(visitor, name)
        return {"named": name.strip(), "visitor": visitor, "embeddings": n}

    def _reject(self, body: dict) -> dict:
        """{"event_id": "..."} of a face_recognized event: "that was not them"."""
        event_id = body["event_id"]
        if not isinstance(event_id, str) or not event_id.strip():
            raise ValueError("'event_id' must be the id of a face_recognized event")
        done = Gallery(self.gallery.path).reject(event_id.strip(), self.cfg.learning.negatives.max_per_identity)
        return {"rejected": event_id.strip(), **done}

    def _identities(self, body: dict) -> dict:
        return {"identities": Gallery(self.gallery.path).identities(EmbedderTag.of(self.embedder))}

    def _remove(self, body: dict) -> dict:
        name = body["name"]
        if not isinstance(name, str) or not name.strip():
            raise ValueError("'name' must be a non-empty string")
        removed = Gallery(self.gallery.path).remove(name)
        if not removed:
            raise EdgekitError(f"identity {name!r} is not in the gallery", "send `identities` to list them")
        return {"removed": removed}

    def _enroll(self, body: dict) -> dict:
        """{"name": "Ann", "image": base64 JPEG/PNG} (the link bounds the payload size)."""
        name, data = body["name"], body["image"]
        if not isinstance(name, str) or not name.strip() or not isinstance(data, str):
            raise ValueError("'name' must be a non-empty string and 'image' a base64 string")
        try:
            raw = np.frombuffer(base64.b64decode(data, validate=True), np.uint8)
        except (binascii.Error, ValueError):
            raise EdgekitError(
                "enroll: 'image' is not valid base64", "send the JPEG/PNG file's bytes, base64-encoded"
            ) from None
        image = decode_picture(raw.tobytes(), "enroll: 'image'").image  # bounded by limits.max_image_pixels first
        added = self.enroll(name.strip(), image, source="mqtt")
        return {"enrolled": name.strip(), "embeddings": added}

    def state(self) -> dict:
        gallery, tag = Gallery(self.gallery.path), EmbedderTag.of(self.embedder)
        identities = gallery.identities(tag)
        visitors = gallery.visitors(tag)
        return {
            "gallery": {
                "identities": len(identities),
                "names": sorted(identities)[:200],
                "adapted": sum(gallery.adapted_counts().values()),
                "negatives": sum(gallery.negative_counts().values()),
                **({"last_update": self.last_gallery_update} if self.last_gallery_update is not None else {}),
            },
            "unknowns": {
                "visitors": len(visitors),
                "recent": [{"id": v.id, "seen": v.seen, "last_seen": v.last_seen} for v in visitors[:10]],
            },
        }

    def overlay(self) -> dict:
        """The live tracks: id and, once decided, the name (or "unknown")."""
        for _ in range(3):  # the loop may add or end a track while this reads (another thread)
            try:
                tracks = list(self.tracker.tracks.values())
                break
            except RuntimeError:
                continue
        else:
            tracks = []
        boxes = []
        for t in tracks:
            name = t.state.decision if t.state is not None else None
            boxes.append({"box": [round(float(v), 1) for v in t.box], "track_id": t.id, "name": name})
        return {"boxes": boxes}

    def telemetry(self) -> dict:
        return {"tracks": len(self.tracker.tracks), **self.decisions}

    def stats(self) -> dict:
        return {
            "faces_embedded": self.faces_embedded,
            "faces_mirrored": self.faces_mirrored,
            "gallery_identities": len(self.matcher()),
        }


def mirror_margin(cfg, embedder) -> float:
    """The site's `embedder.mirror_margin`, else the embedder card's."""
    return embedder.mirror_margin if cfg.embedder.mirror_margin is None else cfg.embedder.mirror_margin


def _not_a_chunk(body: dict) -> bool:
    return body.get("step") != "chunk"
