"""GPS position from NMEA 0183 sentences, parsed by pynmea2 (checksums enforced).

RMC gives position, speed over ground, course and UTC time (status A = valid); GGA adds fix quality, satellites,
HDOP and altitude; VTG refreshes speed. Talker ids (GP, GN, GL, ...) are all accepted. A bad checksum, a truncated
sentence or line noise is counted and dropped. `position()` is what events and telemetry carry: None until a valid
fix arrives, and None again once the last valid fix is older than `max_age_s` (receiver quiet or sky lost)."""

from __future__ import annotations

import threading
import time

import pynmea2

from edge.peripherals.config import GpsConfig

KNOT_KMH = 1.852


def _float(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class Gps:
    def __init__(self, cfg: GpsConfig):
        self.cfg = cfg
        self._lock = threading.Lock()
        self._pos: dict = {}
        self._fix_at: float | None = None  # monotonic time of the last valid position
        self.sentences = self.bad = 0

    def handle_line(self, line: str, now: float | None = None) -> bool:
        start = line.find("$")
        if start < 0:
            return False
        try:
            msg = pynmea2.parse(line[start:], check=True)
            update = self._read(msg)
        except Exception:  # ParseError, ChecksumError, SentenceTypeError, ValueError from a garbled field
            self.bad += 1
            return True
        self.sentences += 1
        if update is not None:
            now = time.monotonic() if now is None else now
            with self._lock:
                self._pos.update(update)
                if update.get("lat") is not None:
                    self._fix_at = now
        return True

    @staticmethod
    def _read(msg) -> dict | None:
        kind = msg.sentence_type
        if kind == "RMC":
            if msg.status != "A":
                return None
            speed = _float(msg.spd_over_grnd)
            stamp = msg.datetime if msg.datestamp and msg.timestamp else None
            return {
                "lat": round(msg.latitude, 6),
                "lon": round(msg.longitude, 6),
                "speed_kmh": None if speed is None else round(speed * KNOT_KMH, 2),
                "course_deg": _float(msg.true_course),
                "utc": stamp.isoformat() if stamp else None,
            }
        if kind == "GGA":
            quality = int(msg.gps_qual or 0)
            out = {
                "quality": quality,
                "sats": int(msg.num_sats) if msg.num_sats else None,
                "hdop": _float(msg.horizontal_dil),
                "alt_m": _float(msg.altitude),
            }
            if quality > 0:
                out.update(lat=round(msg.latitude, 6), lon=round(msg.longitude, 6))
            return out
        if kind == "VTG":
            kmh = _float(msg.spd_over_grnd_kmph)
            return {"speed_kmh": kmh} if kmh is not None else None
        return None  # GSV, GSA, ...: valid but nothing we report

    def position(self, now: float | None = None) -> dict | None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._fix_at is None or now - self._fix_at > self.cfg.max_age_s:
                return None
            return {**self._pos, "age_s": round(now - self._fix_at, 2)}
