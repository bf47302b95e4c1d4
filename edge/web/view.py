"""What the page reads from a running site, without a web framework: the newest events (an EventSink on the bus),
telemetry sampled over the last hours (a thread), and the one function through which every page action runs a
command: the same handlers MQTT commands reach (edge.site.loop_commands), so the page re-implements nothing."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import EdgekitError


class EventLog:
    """The bus's sink for the page: the newest `keep` events, each with its id (crops are served by that id, so no
    request ever names a file)."""

    def __init__(self, keep: int):
        self._events: deque[dict] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def emit(self, event: dict) -> None:
        with self._lock:
            self._events.append(dict(event))

    def close(self) -> None:
        pass

    def recent(self, type_: str | None = None, identity: str | None = None) -> list[dict]:
        with self._lock:
            events = list(self._events)
        events = [e for e in events if (not type_ or e.get("type") == type_)]
        if identity:
            events = [e for e in events if e.get("identity") == identity]
        return events[::-1]

    def types(self) -> list[str]:
        with self._lock:
            return sorted({e.get("type", "") for e in self._events})

    def crop_of(self, event_id: str) -> Path | None:
        with self._lock:
            for e in self._events:
                if e.get("id") == event_id and e.get("crop"):
                    return Path(e["crop"])
        return None


# telemetry keys the health page plots: (label, how to read it from one telemetry dict)
SERIES: dict[str, Callable[[dict], float | None]] = {
    "fps": lambda t: t.get("fps"),
    "dropped": lambda t: t.get("dropped"),
    "rejected": lambda t: t.get("rejected"),
    "outbox_depth": lambda t: t.get("outbox_depth"),  # the MQTT link's, when the site has one
    "cpu_temp_c": lambda t: t.get("cpu_temp_c"),
    "load1": lambda t: t.get("load1"),
    "peak_rss_mb": lambda t: t.get("peak_rss_mb"),
}


class TelemetryHistory:
    """The telemetry the loop already computes, sampled every `every_s` for the last `keep_s` (plots of fps,
    per-stage timings, dropped frames, outbox depth, temperature)."""

    def __init__(self, read: Callable[[], dict], every_s: float, keep_s: float):
        self.read, self.every_s = read, every_s
        self._samples: deque[tuple[float, dict]] = deque(maxlen=max(2, int(keep_s / every_s)))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        try:
            self._samples.append((time.time(), self.read()))
        except Exception:  # noqa: BLE001 - a telemetry hiccup leaves a gap in the plot, not a dead thread
            pass

    def start(self) -> TelemetryHistory:
        def run():
            while not self._stop.wait(self.every_s):
                self.sample()

        self.sample()
        self._thread = threading.Thread(target=run, name="ui-telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def latest(self) -> dict:
        return self._samples[-1][1] if self._samples else {}

    def series(self) -> dict:
        """{"t": [unix s], key: [value or None], "stage.<name>": [mean ms]} for uPlot."""
        samples = list(self._samples)
        out: dict[str, list] = {"t": [round(t, 1) for t, _ in samples]}
        for key, read in SERIES.items():
            out[key] = [read(s) for _, s in samples]
        stages = sorted({name for _, s in samples for name in (s.get("stages") or {})})
        for name in stages:
            out[f"stage.{name}"] = [_stage_ms((s.get("stages") or {}).get(name)) for _, s in samples]
        return out


def _stage_ms(summary) -> float | None:
    if not isinstance(summary, dict):
        return None
    for key in ("mean_ms", "p50_ms", "median_ms"):
        if key in summary:
            return summary[key]
    return None


class CommandRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class SiteView:
    """A running site as the page sees it: the loop (latest frame, the app's overlay), the command handlers, the
    events, the telemetry history, and the config file (the zone editor writes zones there)."""

    loop: object
    commands: dict[str, Callable[[dict], dict]]
    events: EventLog
    history: TelemetryHistory
    config_path: Path | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def has(self, name: str) -> bool:
        return name in self.commands

    def run(self, name: str, body: dict) -> dict:
        """Run command `name` as MQTT would (the page's login stands in for the signature). A bad body is a 400 with
        the handler's own one-line message; a missing command a 404."""
        handler = self.commands.get(name)
        if handler is None:
            raise CommandRefused(404, f"this device has no {name!r} command")
        try:
            with self.lock:  # one page action at a time, as the link's single command thread does
                return handler(body)
        except EdgekitError as e:
            raise CommandRefused(400, str(e)) from None
        except (KeyError, ValueError, TypeError) as e:
            raise CommandRefused(400, f"{name}: {e}") from None
