"""Triggers, relay and GPS through Peripherals on real pty pairs: the test plays the microcontroller on the master."""

from __future__ import annotations

import functools
import os
import select
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from edge.peripherals import Peripherals, PeripheralsConfig
from edge.peripherals.config import GpsConfig, PortConfig, RelayConfig, TriggersConfig
from edge.peripherals.gps import Gps
from edge.peripherals.relay import Relay
from edge.peripherals.triggers import Triggers
from tests.fixtures.events import keep


def wait_for(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def nmea(body: str) -> str:
    return f"${body}*{functools.reduce(lambda a, b: a ^ b, body.encode(), 0):02X}"


RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"  # the textbook sentence
GGA = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"


class Mcu:
    """The far end of a pty pair: what a microcontroller or GPS receiver would write and read."""

    def __init__(self):
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        os.close(slave)
        self._buf = b""

    def send(self, *lines: str):
        os.write(self.master, "".join(line + "\r\n" for line in lines).encode())

    def read_line(self, timeout=3.0) -> str | None:
        end = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.master], [], [], left)[0]:
                return None
            self._buf += os.read(self.master, 1024)
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode().strip()

    def close(self):
        os.close(self.master)


@pytest.fixture
def mcu():
    m = Mcu()
    yield m
    m.close()


@pytest.fixture
def rig(mcu):
    """Triggers and relay on one microcontroller port (as one board reads the button and drives the strike)."""
    events = []
    cfg = PeripheralsConfig.model_validate(
        {
            "triggers": {"port": {"url": mcu.path}, "burst_s": 0.4, "idle_fps": 2},
            "relay": {"port": {"url": mcu.path}, "authorized": ["alice"], "unlock_s": 3, "cooldown_s": 10},
        }
    )
    p = Peripherals(cfg).start(keep(events))
    assert list(p.ports) == [mcu.path]  # shared, opened once
    assert p.ports[mcu.path].wait_open(5)
    yield p, events
    p.stop()


def recognised(identity, track_id=1, **kw):
    return {"type": "face_recognized", "identity": identity, "track_id": track_id, "frame_id": 5, "score": 0.8, **kw}


def relay_events(events):
    return [e for e in events if e["type"] == "relay"]


# -- triggers ----------------------------------------------------------------------------------------------------
def test_button_starts_a_burst_that_ends(rig, mcu):
    p, events = rig
    assert not p.burst_active() and p.min_frame_interval() == 0.5  # idle: 2 fps
    mcu.send("BUTTON front")
    assert wait_for(p.burst_active) and p.min_frame_interval() == 0.0  # burst: full rate
    (trigger,) = [e for e in events if e["type"] == "trigger"]
    assert trigger["kind"] == "button" and trigger["name"] == "front" and trigger["new_burst"]
    assert wait_for(lambda: not p.burst_active(), 2) and p.min_frame_interval() == 0.5


def test_motion_repeats_extend_the_burst_without_new_events():
    events = []
    t = Triggers(TriggersConfig(port=PortConfig(url="loop://"), burst_s=10), keep(events))
    assert t.handle_line("MOTION hall", now=100.0)
    assert t.handle_line("MOTION hall", now=105.0)  # the PIR re-fires: burst extended, no second event
    assert t.burst_active(now=114.0) and not t.burst_active(now=115.1)
    assert [e["new_burst"] for e in events] == [True]
    assert t.handle_line("BUTTON", now=106.0)  # a press is always news
    assert [e["kind"] for e in events] == ["motion", "button"]
    assert not t.handle_line("UNLOCK 3") and not t.handle_line("")  # not ours


def test_kinds_filter_and_bad_kind_config():
    events = []
    t = Triggers(TriggersConfig(port=PortConfig(url="loop://"), kinds=["BUTTON"]), keep(events))
    assert t.handle_line("MOTION", now=1.0) and not t.burst_active(now=1.0) and events == []
    with pytest.raises(ValidationError, match="PIR"):
        TriggersConfig(port=PortConfig(url="loop://"), kinds=["PIR"])


# -- relay -------------------------------------------------------------------------------------------------------
def test_authorised_identity_unlocks_and_is_audited(rig, mcu):
    p, events = rig
    p.on_event(recognised("alice"))
    assert mcu.read_line() == "UNLOCK 3"
    (audit,) = relay_events(events)
    assert audit | {"time": 0} == {
        "type": "relay",
        "time": 0,
        "action": "unlock",
        "result": "sent",
        "url": mcu.path,
        "seconds": 3.0,
        "identity": "alice",
        "track_id": 1,
        "frame_id": 5,
        "score": 0.8,
    }
    mcu.send("OK UNLOCK 3")  # the board's reply is recorded too
    assert wait_for(lambda: len(relay_events(events)) == 2)
    assert relay_events(events)[1]["action"] == "reply" and relay_events(events)[1]["result"] == "ok"


def test_unauthorised_identity_never_reaches_the_wire(rig, mcu):
    p, events = rig
    p.on_event(recognised("mallory"))
    p.on_event({"type": "face_unknown", "track_id": 2})
    assert mcu.read_line(timeout=0.3) is None and relay_events(events) == []


def test_cooldown(rig, mcu):
    p, events = rig
    p.relay.on_event(recognised("alice"), now=1000.0)
    p.relay.on_event(recognised("alice", track_id=2), now=1004.0)
    p.relay.on_event(recognised("alice", track_id=3), now=1010.5)
    assert [mcu.read_line(), mcu.read_line(), mcu.read_line(timeout=0.3)] == ["UNLOCK 3", "UNLOCK 3", None]
    assert [(e["result"], e.get("reason")) for e in relay_events(events)] == [
        ("sent", None),
        ("refused", "cooldown"),
        ("sent", None),
    ]
    assert relay_events(events)[1]["retry_in_s"] == 6.0


def test_interlock_never_unlocks_while_an_unknown_face_is_in_view(rig, mcu):
    p, events = rig
    r = p.relay
    r.on_event({"type": "face_unknown", "track_id": 7}, now=0.0)
    assert r.on_event(recognised("alice"), now=1.0).reason == "unknown_in_view"
    assert mcu.read_line(timeout=0.3) is None
    r.on_event({"type": "face_left", "track_id": 7, "identity": "unknown"}, now=2.0)
    assert r.on_event(recognised("alice"), now=3.0).result == "sent"
    assert mcu.read_line() == "UNLOCK 3"
    assert relay_events(events)[0]["unknown_tracks"] == [7]


def test_unknown_face_arriving_while_open_relocks(rig, mcu):
    p, events = rig
    p.relay.on_event(recognised("alice"), now=10.0)
    p.relay.on_event({"type": "face_unknown", "track_id": 9}, now=11.0)  # tailgater within the 3 s opening
    p.relay.on_event({"type": "face_unknown", "track_id": 10}, now=20.0)  # door already shut: nothing to send
    assert [mcu.read_line(), mcu.read_line(), mcu.read_line(timeout=0.3)] == ["UNLOCK 3", "LOCK", None]
    assert [(e["action"], e["result"]) for e in relay_events(events)] == [("unlock", "sent"), ("lock", "sent")]


def test_interlock_off_and_stale_unknowns_expire():
    cfg = dict(port=PortConfig(url="loop://"), authorized=["alice"], cooldown_s=0)
    sent = []
    off = Relay(RelayConfig(**cfg, interlock_unknown=False), lambda line: sent.append(line) or True, lambda e: None)
    off.on_event({"type": "face_unknown", "track_id": 1}, now=0.0)
    assert off.on_event(recognised("alice"), now=1.0).result == "sent"
    on = Relay(RelayConfig(**cfg, unknown_hold_s=60), lambda line: sent.append(line) or True, lambda e: None)
    on.on_event({"type": "face_unknown", "track_id": 1}, now=0.0)  # its face_left was never seen
    assert on.on_event(recognised("alice"), now=59.0).result == "refused"
    assert on.on_event(recognised("alice"), now=61.0).result == "sent"
    assert sent == ["UNLOCK 3", "UNLOCK 3"]


def test_a_recognition_below_the_unlock_threshold_does_not_open_the_door():
    from edge.apps.doorbell.policy import DoorbellVote, Thresholds
    from edge.vision.tracker import Track

    sent = []
    relay = Relay(
        RelayConfig(port=PortConfig(url="loop://"), authorized=["alice"], cooldown_s=0),
        lambda line: sent.append(line) or True,
        lambda e: None,
    )
    vote = DoorbellVote(Thresholds(recognize=0.6, instant=0.7, unknown=0.5, unlock=0.8))
    frame = {"frame_id": 1, "frame_time": 0.0}
    box = np.array([0, 0, 50, 50], np.float32)
    weak = vote.attempt(Track(1, box, 1, 1), "alice", 0.75, frame)  # instant, but under unlock
    strong = vote.attempt(Track(2, box, 1, 1), "alice", 0.85, frame)
    weak, strong = weak.to_json(), strong.to_json()
    assert weak["type"] == strong["type"] == "face_recognized" and weak["unlock"] is False and strong["unlock"]
    assert relay.on_event(weak, now=1.0).reason == "below_unlock_threshold"
    assert relay.on_event(strong, now=2.0).result == "sent" and sent == ["UNLOCK 3"]


def test_port_down_is_an_audited_failure_and_starts_no_cooldown(tmp_path):
    events = []
    cfg = PeripheralsConfig.model_validate(
        {"relay": {"port": {"url": str(tmp_path / "ttyACM0"), "backoff_initial_s": 0.05}, "authorized": ["alice"]}}
    )
    p = Peripherals(cfg).start(keep(events))
    try:
        assert wait_for(lambda: any(e["type"] == "serial_port" and e["state"] == "unavailable" for e in events))
        p.on_event(recognised("alice"))
        (audit,) = relay_events(events)
        assert (audit["result"], audit["reason"]) == ("failed", "port_unavailable")
        # The board comes up: the next recognition goes through at once (a failure did not start the cooldown).
        m = Mcu()
        try:
            os.symlink(m.path, tmp_path / "ttyACM0")
            assert p.ports[str(tmp_path / "ttyACM0")].wait_open(3)
            p.on_event(recognised("alice", track_id=2))
            assert m.read_line() == "UNLOCK 3"
        finally:
            p.stop()
            m.close()
    finally:
        p.stop()


def test_relay_config_errors_name_the_key():
    with pytest.raises(ValidationError, match="authorized"):
        RelayConfig(port=PortConfig(url="loop://"), authorized=[])
    with pytest.raises(ValidationError, match="unlok_s"):
        RelayConfig.model_validate({"port": {"url": "loop://"}, "authorized": ["a"], "unlok_s": 3})
    with pytest.raises(ValidationError, match="not a device path"):
        PortConfig(url="ttyUSB0")


# -- gps ---------------------------------------------------------------------------------------------------------
def test_gps_over_a_pty_attaches_position_to_events(mcu):
    from edge.events import EventBus
    from tests.fixtures.events import ListSink

    sink = ListSink()
    events = sink.events
    cfg = PeripheralsConfig(
        gps=GpsConfig(port=PortConfig(url=mcu.path, baudrate=9600)),
        relay=RelayConfig(port=PortConfig(url="loop://"), authorized=["alice"]),
    )
    p = Peripherals(cfg)
    bus = EventBus([sink], enrichers=[p.annotate], watchers=[p.on_event])  # as the site wires it
    p.start(bus.emit)
    try:
        assert p.ports[mcu.path].wait_open(5)
        assert p.position() is None  # no fix yet
        mcu.send(
            nmea("GPGSV,1,1,01,01,40,083,46"), "$GPRMC,garbled*00", RMC, GGA, nmea("GNVTG,084.4,T,,M,022.4,N,041.5,K,A")
        )
        assert wait_for(lambda: (p.position() or {}).get("speed_kmh") == 41.5)
        pos = p.position()
        assert (pos["lat"], pos["lon"], pos["quality"], pos["sats"], pos["alt_m"]) == (48.1173, 11.516667, 1, 8, 545.4)
        assert pos["utc"] == "1994-03-23T12:35:19+00:00" and pos["course_deg"] == 84.4
        assert p.gps.bad == 1 and p.gps.sentences == 4
        p.on_event(recognised("alice"))
        assert relay_events(events)[0]["position"]["lat"] == 48.1173  # audit events say where (vehicle fleets)
    finally:
        p.stop()


def test_gps_fix_lost_and_stale():
    g = Gps(GpsConfig(port=PortConfig(url="loop://"), max_age_s=5))
    assert g.handle_line(RMC, now=0.0) and g.position(now=4.0)["age_s"] == 4.0
    assert g.position(now=5.5) is None  # receiver went quiet
    g.handle_line(nmea("GPRMC,123520,V,,,,,,,230394,,,N"), now=6.0)  # void: no position
    g.handle_line(nmea("GPGGA,123520,,,,,0,00,99.9,,M,,M,,"), now=6.0)  # quality 0: no position
    assert g.position(now=6.0) is None and g.bad == 0
    g.handle_line(RMC[:30], now=7.0)  # cut off mid-sentence
    assert g.bad == 1 and g.position(now=7.0) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120) | st.builds(lambda s: "$" + s, st.text(max_size=90)))
def test_no_line_crashes_any_handler(line):
    cfg_port = PortConfig(url="loop://")
    Gps(GpsConfig(port=cfg_port)).handle_line(line)
    Triggers(TriggersConfig(port=cfg_port), lambda e: None).handle_line(line)
    Relay(RelayConfig(port=cfg_port, authorized=["a"]), lambda s: True, lambda e: None).handle_line(line)
