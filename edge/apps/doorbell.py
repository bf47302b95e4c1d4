"""Doorbell decisions: from a track's match attempts to one event per decision (pure logic, no I/O).

Each attempt is the best gallery identity and its cosine similarity. At or above `recognize` it votes for that
identity (weight = similarity); below `unknown` it votes 'unknown'; in between it waits for more evidence. A track is
decided once `min_votes` votes are in (or one attempt reaches `instant`), or called unknown after `max_attempts`."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.events import make_event
from edge.vision.tracker import Track


class Thresholds(BaseModel):
    """Defaults for FaceRes INT8 with aligned crops, from `edgekit faces calibrate` (2026-11-22). Recommended
    recognise / unknown: deepface pairs.csv 0.637 / 0.637 (its highest different-person score), pairs_extended.csv
    0.594 / 0.591, face-api.js BBT identities 0.619 / 0.419. recognise 0.60 is pairs_extended's best-accuracy point;
    a track needs `min_votes` such attempts, stricter than any single pair. FaceNet scores on another scale:
    recalibrate when switching embedders."""

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
        if not self.unknown <= self.recognize <= self.instant:
            raise ValueError(f"need unknown <= recognize <= instant, got {self.unknown}, {self.recognize}, {self.instant}")
        if self.unlock is not None and self.unlock < self.recognize:
            raise ValueError(f"need recognize <= unlock, got {self.recognize}, {self.unlock}")
        return self


class Doorbell:
    def __init__(self, thresholds: Thresholds):
        self.t = thresholds

    def attempt(self, track: Track, identity: str | None, score: float, frame: dict) -> dict | None:
        """Record one match attempt; returns an event when this attempt decides the track."""
        d = track.data
        if "decision" in d:
            return None
        d["attempts"] = d.get("attempts", 0) + 1
        votes, best = d.setdefault("votes", {}), d.setdefault("best", {})
        if identity is not None:
            best[identity] = max(best.get(identity, -1.0), score)
            if score >= self.t.instant:
                return self._decide(track, identity, score, frame)
        if identity is not None and score >= self.t.recognize:
            votes[identity] = votes.get(identity, 0.0) + score
        elif identity is None or score < self.t.unknown:
            votes[None] = votes.get(None, 0.0) + 1.0
        else:
            return self._give_up(track, frame, score)  # in the band: no vote, wait for more evidence
        d["cast"] = d.get("cast", 0) + 1
        if d["cast"] >= self.t.min_votes:
            winner = max(votes, key=votes.get)
            if votes[winner] / sum(votes.values()) >= self.t.majority:
                return self._decide(track, winner, best.get(winner, score) if winner else score, frame)
        return self._give_up(track, frame, score)

    def _give_up(self, track: Track, frame: dict, score: float) -> dict | None:
        if track.data["attempts"] >= self.t.max_attempts:
            return self._decide(track, None, max(track.data["best"].values(), default=score), frame)
        return None

    def _decide(self, track: Track, identity: str | None, score: float, frame: dict) -> dict:
        track.data["decision"] = identity or "unknown"
        fields = dict(track_id=track.id, score=round(float(score), 4), box=[round(float(v), 1) for v in track.box],
                      frame_id=frame["frame_id"], frame_time=frame["frame_time"])
        if identity is None:
            return make_event("face_unknown", **fields)
        unlock = self.t.recognize if self.t.unlock is None else self.t.unlock
        return make_event("face_recognized", identity=identity, unlock=bool(score >= unlock), **fields)

    def end(self, track: Track, frame: dict) -> list[dict]:
        """A track ended: a face that was looked at but never decided (it left while its scores sat in the band) is
        reported unknown, so nobody passes the door unreported; then face_left."""
        events = []
        if "decision" not in track.data and track.data.get("attempts"):
            best = track.data.get("best", {})
            events.append(self._decide(track, None, max(best.values(), default=-1.0), frame))
            events[-1]["undecided"] = True
        return events + [self.left(track, frame)]

    def left(self, track: Track, frame: dict) -> dict:
        return make_event("face_left", track_id=track.id, identity=track.data.get("decision"),
                          frames=track.last_frame - track.first_frame + 1, frame_id=frame["frame_id"], frame_time=frame["frame_time"])
