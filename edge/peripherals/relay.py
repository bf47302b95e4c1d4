"""Door strike relay: unlock for an authorised recognised identity, with a cooldown and an unknown-face interlock.

We send `UNLOCK <seconds>` and the microcontroller drives and times the relay itself, so a crash here can never leave
the door open. `LOCK` ends an unlock early (sent when an unknown face appears while the door is open). Replies
`OK ...` / `ERR ...` from the microcontroller are recorded. Every decision about an authorised identity (sent, refused,
failed) and every reply is an audit event of type `relay`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edge.events.types import RelayAudit
from edge.peripherals.config import RelayConfig


class Relay:
    def __init__(self, cfg: RelayConfig, send: Callable[[str], bool], emit: Callable[[dict], None]):
        self.cfg, self._send, self._emit = cfg, send, emit
        self._authorized = set(cfg.authorized)
        self._unknown: dict[object, float] = {}  # track_id -> monotonic time it was decided unknown
        self._last_unlock = float("-inf")
        self._open_until = float("-inf")
        self._lock = threading.Lock()  # on_event runs on the loop thread, handle_line on the port's reader thread

    def _audit(self, action: str, result: str, **fields) -> RelayAudit:
        event = RelayAudit(action=action, result=result, url=self.cfg.port.url, **fields)
        self._emit(event)
        return event

    def unknown_in_view(self, now: float | None = None) -> list:
        now = time.monotonic() if now is None else now
        for tid in [t for t, seen in self._unknown.items() if now - seen > self.cfg.unknown_hold_s]:
            del self._unknown[tid]  # face_left never came (lost event, restart): do not keep the door shut forever
        return sorted(self._unknown, key=str)

    def on_event(self, event: dict, now: float | None = None) -> RelayAudit | None:
        """Feed every app event; returns the audit event it caused, if any."""
        kind = event.get("type")
        if kind not in ("face_unknown", "face_left", "face_recognized"):
            return None  # not ours; and the bus hands this relay its own audit events back, under our lock
        now = time.monotonic() if now is None else now
        with self._lock:
            if kind == "face_unknown":
                self._unknown[event.get("track_id")] = now
                if self.cfg.interlock_unknown and now < self._open_until:
                    sent = self._send("LOCK")
                    self._open_until = now if sent else self._open_until
                    return self._audit(
                        "lock",
                        "sent" if sent else "failed",
                        reason="unknown_in_view",
                        track_id=event.get("track_id"),
                        frame_id=event.get("frame_id"),
                    )
            elif kind == "face_left":
                self._unknown.pop(event.get("track_id"), None)
            elif kind == "face_recognized" and event.get("identity") in self._authorized:
                return self._unlock(event, now)
        return None

    def _unlock(self, event: dict, now: float) -> RelayAudit:
        who = dict(
            identity=event.get("identity"),
            track_id=event.get("track_id"),
            frame_id=event.get("frame_id"),
            score=event.get("score"),
        )
        if event.get("unlock") is False:  # recognised, but below the unlock operating point (thresholds.unlock)
            return self._audit("unlock", "refused", reason="below_unlock_threshold", **who)
        unknown = self.unknown_in_view(now)
        if self.cfg.interlock_unknown and unknown:
            return self._audit("unlock", "refused", reason="unknown_in_view", unknown_tracks=unknown, **who)
        wait = self._last_unlock + self.cfg.cooldown_s - now
        if wait > 0:
            return self._audit("unlock", "refused", reason="cooldown", retry_in_s=round(wait, 2), **who)
        seconds = self.cfg.unlock_s
        if not self._send(f"UNLOCK {seconds:g}"):
            return self._audit("unlock", "failed", reason="port_unavailable", seconds=seconds, **who)
        self._last_unlock, self._open_until = now, now + seconds
        return self._audit("unlock", "sent", seconds=seconds, **who)

    def handle_line(self, line: str) -> bool:
        word = line.split(maxsplit=1)[0].upper() if line.strip() else ""
        if word not in ("OK", "ERR"):
            return False
        self._audit("reply", "ok" if word == "OK" else "error", reply=line[:120])
        return True
