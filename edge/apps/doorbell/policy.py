"""The doorbell's policy: from a track's match attempts to one event per decision (pure logic, no I/O).

Each attempt is the best gallery identity and its cosine similarity. At or above `recognize` it votes for that
identity (weight = similarity); below `unknown` it votes 'unknown'; in between it waits for more evidence. A track is
decided once `min_votes` votes are in (or one attempt reaches `instant`), or called unknown after `max_attempts`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.apps.doorbell.events import FaceDecision, FaceLeft, FaceRecognized, FaceUnknown
from edge.errors import EdgekitError
from edge.vision.tracker import Track

log = logging.getLogger(__name__)

POINTS = ("unknown", "recognize", "instant", "unlock")  # the similarity thresholds, on the embedder's own scale


class Thresholds(BaseModel):
    """The doorbell's operating points. Each embedder scores on its own scale, so its card declares its calibrated
    points (`decoder.params.thresholds`, from `edgekit faces calibrate --lfw`) and `resolve` takes the ones a site
    config leaves out from there: a site that switches embedders keeps thresholds that mean something (FaceRes's
    0.60 under dlib_resnet, whose strangers score 0.8-0.9, recognised everyone). The class defaults are FaceRes's
    (INT8, aligned crops, `edgekit faces calibrate` 2026-11-22: deepface pairs_extended.csv's best-accuracy point
    0.60), used only when neither the site nor the card says."""

    model_config = ConfigDict(extra="forbid")
    recognize: float = Field(0.60, ge=-1, le=1)
    unknown: float = Field(0.50, ge=-1, le=1)
    instant: float = Field(0.70, ge=-1, le=1)
    # The stricter operating point the door relay needs (`faces calibrate --lfw`: FAR <= 1e-3 on LFW's pairs). A
    # recognition carries `unlock: true` only when its score reaches it; unset = `recognize`.
    unlock: float | None = Field(None, ge=-1, le=1)
    min_votes: int = Field(2, ge=1)
    max_attempts: int = Field(6, ge=1)
    majority: float = Field(0.6, gt=0, le=1)

    @model_validator(mode="after")
    def ordered(self):
        # only what was given is checked here (a site may set `recognize` alone, the card fills the rest): `resolve`
        # checks the whole set
        given = self.model_fields_set
        chain = [k for k in ("unknown", "recognize", "instant") if k in given]
        values = [getattr(self, k) for k in chain]
        if values != sorted(values):
            raise ValueError(f"need unknown <= recognize <= instant, got {dict(zip(chain, values))}")
        if self.unlock is not None and "recognize" in given and self.unlock < self.recognize:
            raise ValueError(f"need recognize <= unlock, got {self.recognize}, {self.unlock}")
        return self

    def undecided_band(self, margin: float) -> tuple[float, float]:
        """The scores where a second look can change what the vote does: from `unknown` to the highest point,
        widened by `margin` (dlib_resnet on LFW: a one-view score lies within 0.013 of the mirrored one for 99% of
        the pairs, 0.027 at most)."""
        top = max(self.recognize, self.instant, self.recognize if self.unlock is None else self.unlock)
        return self.unknown - margin, top + margin

    def resolve(self, card_points: dict | None) -> Thresholds:
        """These thresholds with the points the site left out taken from the embedder card's `card_points`, checked
        whole (ValueError naming the values). A card point gives way to the site's own: a stricter `recognize` takes
        `instant` and `unlock` up with it (the relay never opens below the point that recognises), a looser one takes
        `unknown` down (the band that waits starts at or below it)."""
        given = self.model_fields_set
        points = {k: v for k, v in (card_points or {}).items() if k in POINTS and k not in given and v is not None}
        if "recognize" in given:
            for k in ("instant", "unlock"):
                if k in points:
                    points[k] = max(points[k], self.recognize)
            if "unknown" in points:
                points["unknown"] = min(points["unknown"], self.recognize)
        return Thresholds.model_validate({**self.model_dump(), **points})  # every field given: all checked


def card_thresholds(site: Thresholds, embedder) -> Thresholds:
    """`site`'s thresholds with the points it leaves out from `embedder`'s card; one line naming both when the set
    that results is out of order."""
    if not embedder.operating_points and not {"recognize", "unknown", "instant"} & site.model_fields_set:
        log.warning(
            "embedder %s: its card declares no thresholds and the site config sets none: using FaceRes's %.2f/%.2f/"
            "%.2f, which mean nothing on another embedder's scale; run `edgekit faces calibrate --lfw` and set them",
            embedder.name,
            site.recognize,
            site.unknown,
            site.instant,
        )
    try:
        return site.resolve(embedder.operating_points)
    except ValueError as e:
        reason = e.errors()[0]["msg"] if hasattr(e, "errors") else str(e)
        raise EdgekitError(
            f"thresholds: {reason} (the site config's, the rest from embedder {embedder.name}'s card)",
            "set thresholds.recognize too, or all four for this embedder (edgekit faces calibrate --lfw)",
        ) from None


@dataclass
class FaceVotes:
    """What the vote keeps per track (in `Track.state`)."""

    attempts: int = 0
    cast: int = 0
    votes: dict[str | None, float] = field(default_factory=dict)  # identity (None: unknown) -> weight
    best: dict[str, float] = field(default_factory=dict)  # identity -> best similarity seen
    decision: str | None = None  # the identity, or "unknown", once decided


def votes_of(track: Track) -> FaceVotes:
    if track.state is None:
        track.state = FaceVotes()
    return track.state


class DoorbellVote:
    def __init__(self, thresholds: Thresholds):
        self.t = thresholds

    @staticmethod
    def decided(track: Track) -> bool:
        return track.state is not None and track.state.decision is not None

    def attempt(self, track: Track, identity: str | None, score: float, frame: dict) -> FaceDecision | None:
        """Record one match attempt; returns an event when this attempt decides the track."""
        v = votes_of(track)
        if v.decision is not None:
            return None
        v.attempts += 1
        if identity is not None:
            v.best[identity] = max(v.best.get(identity, -1.0), score)
            if score >= self.t.instant:
                return self._decide(track, identity, score, frame)
        if identity is not None and score >= self.t.recognize:
            v.votes[identity] = v.votes.get(identity, 0.0) + score
        elif identity is None or score < self.t.unknown:
            v.votes[None] = v.votes.get(None, 0.0) + 1.0
        else:
            return self._give_up(track, frame, score)  # in the band: no vote, wait for more evidence
        v.cast += 1
        if v.cast >= self.t.min_votes:
            winner = max(v.votes, key=v.votes.get)
            if v.votes[winner] / sum(v.votes.values()) >= self.t.majority:
                return self._decide(track, winner, v.best.get(winner, score) if winner else score, frame)
        return self._give_up(track, frame, score)

    def _give_up(self, track: Track, frame: dict, score: float) -> FaceDecision | None:
        v = votes_of(track)
        if v.attempts >= self.t.max_attempts:
            return self._decide(track, None, max(v.best.values(), default=score), frame)
        return None

    def _decide(self, track: Track, identity: str | None, score: float, frame: dict) -> FaceDecision:
        votes_of(track).decision = identity or "unknown"
        fields = dict(
            track_id=track.id,
            score=round(float(score), 4),
            box=[round(float(v), 1) for v in track.box],
            frame_id=frame["frame_id"],
            frame_time=frame["frame_time"],
        )
        if identity is None:
            return FaceUnknown(**fields)
        unlock = self.t.recognize if self.t.unlock is None else self.t.unlock
        return FaceRecognized(identity=identity, unlock=bool(score >= unlock), **fields)

    def end(self, track: Track, frame: dict) -> list[FaceDecision | FaceLeft]:
        """A track ended: a face that was looked at but never decided (it left while its scores sat in the band) is
        reported unknown, so nobody passes the door unreported; then face_left."""
        events: list[FaceDecision | FaceLeft] = []
        v = votes_of(track)
        if v.decision is None and v.attempts:
            events.append(self._decide(track, None, max(v.best.values(), default=-1.0), frame))
            events[-1].undecided = True
        return events + [self.left(track, frame)]

    def left(self, track: Track, frame: dict) -> FaceLeft:
        return FaceLeft(
            track_id=track.id,
            identity=votes_of(track).decision,
            frames=track.last_frame - track.first_frame + 1,
            frame_id=frame["frame_id"],
            frame_time=frame["frame_time"],
        )


def needs_embedding(
    track: Track, frame_id: int, every: int, grow: float, sharpness: float | None = None, sharpen: float = 1.5
) -> bool:
    """Embed a track on creation, then every `every` frames, or sooner when the face grew by `grow` (x area) or got
    sharper by `sharpen` (x variance of the Laplacian; pass `sharpness` to use it): a visitor walking up to the door
    is re-embedded as the face becomes big and clear, not only on a fixed clock."""
    if track.embedded_frame is None:
        return True
    if frame_id - track.embedded_frame >= every or track.area >= track.embedded_area * grow:
        return True
    return sharpness is not None and sharpness >= max(track.embedded_sharpness, 1e-6) * sharpen
