"""Apps behind one protocol: a third app is one class registered under a name; the loop, the bus, the site's
commands and state know it only through edge.apps.base.App."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from edge.apps import APPS
from edge.apps.base import App, Command
from edge.config import parse_config
from edge.errors import EdgekitError
from edge.events.types import FrameEvent
from edge.site import build_loop, loop_commands, reported_state
from tests.fixtures.events import ListSink


@dataclass(kw_only=True)
class Bright(FrameEvent):
    type: ClassVar[str] = "bright_frame"
    mean: float


@APPS.register("brightness")
class BrightnessApp(App):
    """Reports frames brighter than `tracking.iou` x 255 (a live section borrowed for the test)."""

    live_sections = frozenset({"tracking"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.seen = self.bright = 0
        self.finished = False

    def process(self, image, meta):
        with self.ctx.timer.stage("mean"):
            mean = float(image.mean())
        self.seen += 1
        if mean > self.cfg.tracking.iou * 255:
            self.bright += 1
            self.ctx.emit(Bright(mean=round(mean, 1), **meta))

    def finish(self, meta):
        self.finished = True

    def commands(self):
        return {"bright_count": Command(lambda body: {"bright": self.bright})}

    def state(self):
        return {"brightness": {"seen": self.seen}}

    def telemetry(self):
        return {"bright": self.bright}


def test_a_third_app_runs_in_the_loop_through_the_protocol_only(media, tmp_path):
    cfg = parse_config({"app": "brightness", "source": {"uri": str(media("carphone"))}, "tracking": {"iou": 0.2}})
    sink = ListSink()
    loop = build_loop(cfg, [sink])
    stats = loop.run(max_frames=20)
    assert stats["frames"] == 20 and loop.app.seen == 20 and loop.app.finished
    bright = [e for e in sink.events if e["type"] == "bright_frame"]
    assert len(bright) == 20 and all(e["id"] and e["time"] and e["frame_id"] >= 1 for e in bright)
    assert stats["stages"]["mean"]["n"] == 20 and loop.telemetry()["bright"] == 20
    # its commands, state and live config come through the same site code as the doorbell's
    commands = loop_commands(link=None, loop=loop, snapshots=type("NoSnapshots", (), {"command": None})())
    assert commands["bright_count"]({}) == {"bright": 20}
    assert reported_state(loop)["brightness"] == {"seen": 20} and reported_state(loop)["app"] == "brightness"
    assert loop.reconfigure({"tracking": {"iou": 0.9}}) == {"applied": ["tracking"]}
    assert loop.app.cfg.tracking.iou == 0.9
    with pytest.raises(EdgekitError, match="thresholds cannot change while running"):
        loop.reconfigure({"thresholds": {"recognize": 0.7}})
    assert loop.model_versions() == {} and loop.reload_model("faceres", tmp_path / "x.card.json") is False


def test_an_unknown_app_is_one_line_naming_the_known_ones():
    with pytest.raises(EdgekitError) as e:
        parse_config({"app": "doorbel"})
    assert "unknown app 'doorbel'" in e.value.what and "doorbell" in e.value.what and "shelf" in e.value.what
    with pytest.raises(EdgekitError, match="app 'nope' is unknown"):
        APPS.get("nope")
