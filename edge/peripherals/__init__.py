"""Serial peripherals behind one object the run loop drives.

    p = Peripherals(cfg.peripherals)
    bus = EventBus(sinks, enrichers=[p.annotate], watchers=[p.on_event])
    p.start(bus.emit)
    ... per frame: sleep so frames are p.min_frame_interval() apart (0 while p.burst_active(): full rate) ...
    p.stop()

Parts (all optional): triggers (BUTTON/MOTION lines start a recognition burst), relay (door strike on an authorised
identity), gps (NMEA). Parts that name the same port URL share one open port, as when one microcontroller both reads
the button and drives the strike. Their events go to `emit` (the event bus, given at start: the bus in turn needs
this object's GPS position and relay), from the ports' reader threads as well as from on_event."""

from __future__ import annotations

from collections.abc import Callable

from edge.events.types import Event
from edge.peripherals.config import GpsConfig, PeripheralsConfig, PortConfig, RelayConfig, TriggersConfig
from edge.peripherals.gps import Gps
from edge.peripherals.port import LinePort
from edge.peripherals.relay import Relay
from edge.peripherals.triggers import Triggers

__all__ = ["Peripherals", "PeripheralsConfig", "PortConfig", "TriggersConfig", "RelayConfig", "GpsConfig", "LinePort"]


class Peripherals:
    def __init__(self, config: PeripheralsConfig | None):
        self.config = config or PeripheralsConfig()
        self._bus_emit: Callable[[Event], object] | None = None
        self.ports: dict[str, LinePort] = {}
        self._handlers: dict[str, list[Callable[[str], bool]]] = {}
        self.ignored_lines = 0
        c = self.config
        self.gps = Gps(c.gps) if c.gps else None
        self.triggers = Triggers(c.triggers, self._emit) if c.triggers else None
        self.relay = None
        if c.relay:
            port = self._port(c.relay.port)
            self.relay = Relay(c.relay, port.write_line, self._emit)
        if self.triggers:
            self._attach(c.triggers.port, self.triggers.handle_line)
        if self.relay:
            self._attach(c.relay.port, self.relay.handle_line)
        if self.gps:
            self._attach(c.gps.port, self.gps.handle_line)

    def _port(self, cfg: PortConfig) -> LinePort:
        port = self.ports.get(cfg.url)
        if port is None:
            port = self.ports[cfg.url] = LinePort(cfg, self._emit)
            self._handlers[cfg.url] = []
            port.listeners.append(lambda line, url=cfg.url: self._dispatch(url, line))
        return port

    def _attach(self, cfg: PortConfig, handler: Callable[[str], bool]) -> None:
        self._port(cfg)
        self._handlers[cfg.url].append(handler)

    def _dispatch(self, url: str, line: str) -> None:
        for handler in self._handlers[url]:
            if handler(line):
                return
        self.ignored_lines += 1  # noise or a message no part understands: counted, never fatal

    def _emit(self, event: Event) -> None:
        if self._bus_emit is not None:  # before start() nothing is open, so nothing has happened yet
            self._bus_emit(event)

    # -- the run loop's interface --------------------------------------------------------------------------------
    def start(self, emit: Callable[[Event], object]) -> Peripherals:
        self._bus_emit = emit
        for port in self.ports.values():
            port.start()
        return self

    def stop(self) -> None:
        for port in self.ports.values():
            port.stop()

    def burst_active(self) -> bool:
        return bool(self.triggers and self.triggers.burst_active())

    def min_frame_interval(self) -> float:
        """Seconds the loop should leave between frames now: 0 in a burst (full rate) or without triggers."""
        if self.triggers is None or self.triggers.burst_active():
            return 0.0
        return 1.0 / self.triggers.cfg.idle_fps

    def on_event(self, event: dict) -> None:
        """See every app event (face_recognized / face_unknown / face_left drive the relay and its interlock)."""
        if self.relay is not None:
            self.relay.on_event(event)

    def position(self) -> dict | None:
        return self.gps.position() if self.gps else None

    def annotate(self, event: Event) -> None:
        """The position enricher: the current GPS fix (if any) rides on every event."""
        if event.position is None:
            event.position = self.position()

    def stats(self) -> dict:
        out = {"ports": [p.stats() for p in self.ports.values()], "ignored_lines": self.ignored_lines}
        if self.gps:
            out["gps"] = {"sentences": self.gps.sentences, "bad": self.gps.bad}
        if self.triggers:
            out["triggers"] = self.triggers.count
        return out
