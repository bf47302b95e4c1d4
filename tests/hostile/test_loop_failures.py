"""A frame the app fails on (issue 10: the loop keeps running where it can): reported as frame_error and skipped;
ten failing frames in a row with nothing to roll back end the run (the service manager then restarts it). Apps
registered here through the public App protocol; real footage."""

from __future__ import annotations

import pytest

pytest.importorskip("edge.loop")

from edge.apps import APPS  # noqa: E402
from edge.apps.base import App  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.site import build_loop  # noqa: E402
from tests.fixtures.events import ListSink  # noqa: E402


@APPS.register("every_third_fails")
class EveryThirdFails(App):
    """Fails on every third frame (an app bug that depends on the picture)."""

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.done = 0

    def process(self, image, meta):
        if meta["frame_id"] % 3 == 0:
            raise ValueError(f"cannot handle frame {meta['frame_id']}")
        self.done += 1


@APPS.register("always_fails")
class AlwaysFails(App):
    def process(self, image, meta):
        raise RuntimeError("broken for good")


def test_a_failing_frame_is_reported_and_skipped(media):
    cfg = parse_config({"app": "every_third_fails", "source": {"uri": str(media("carphone"))}})
    sink = ListSink()
    stats = build_loop(cfg, [sink]).run(max_frames=12)
    errors = [e for e in sink.events if e["type"] == "frame_error"]
    assert stats["frames"] == 12 and len(errors) == 4
    assert all(e["in_a_row"] == 1 and "ValueError: cannot handle frame" in e["error"] for e in errors)


def test_ten_failing_frames_in_a_row_end_the_run(media):
    cfg = parse_config({"app": "always_fails", "source": {"uri": str(media("carphone"))}})
    sink = ListSink()
    with pytest.raises(RuntimeError, match="broken for good"):
        build_loop(cfg, [sink]).run(max_frames=50)
    assert [e["in_a_row"] for e in sink.events if e["type"] == "frame_error"] == list(range(1, 11))
