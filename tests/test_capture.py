"""Capture from real video files and folders: end of stream, reopen with backoff, newest-frame policy, bad sources."""

import shutil
import threading
import time

import numpy as np
import pytest

from edge.capture import Capture
from edge.capture.base import CaptureConfig, check_frame
from tests.fixtures.events import keep


def cfg(**kw):
    return CaptureConfig(**{"backoff_initial_s": 0.05, "backoff_max_s": 0.2, **kw})


def test_file_source_reads_every_frame_then_stops(media):
    frames = list(Capture(cfg(uri=str(media("carphone")))).frames())
    assert len(frames) == 120 and frames[0].image.shape == (144, 176, 3)
    assert [f.frame_id for f in frames] == list(range(1, 121))


def test_file_source_loops_when_asked(media):
    events = []
    cap = Capture(cfg(uri=str(media("carphone")), at_end="loop"), emit=keep(events))
    n = 0
    for _ in cap.frames():
        n += 1
        if n == 250:
            cap.stop()
    assert n == 250 and sum(e["type"] == "source_restarted" for e in events) == 2


def test_realtime_replay_keeps_only_the_newest_frame_under_load(media):
    cap = Capture(cfg(uri=str(media("carphone")), pace="realtime", fps=200.0))
    got = []
    for f in cap.frames():
        got.append(f.frame_id)
        time.sleep(0.02)  # a consumer 4x slower than the source
    assert cap.dropped > 0 and len(got) + cap.dropped == cap.read_count
    assert got == sorted(got)  # never an old frame after a newer one


def test_missing_file_is_retried_with_backoff_and_recovers(media, tmp_path):
    target = tmp_path / "cam.mp4"
    events = []
    cap = Capture(cfg(uri=str(target), open_retries=20), emit=keep(events))
    threading.Timer(0.4, lambda: shutil.copy(media("carphone"), target)).start()  # the "camera" appears later
    frames = list(cap.frames())
    errors = [e for e in events if e["type"] == "source_error"]
    assert len(frames) == 120 and len(errors) >= 2
    assert errors[1]["retry_in_s"] > errors[0]["retry_in_s"]  # exponential backoff
    assert "not found" in errors[0]["error"]


def test_truncated_video_ends_cleanly(media, tmp_path):
    data = media("bikes").read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: len(data) // 3])
    events = []
    frames = list(Capture(cfg(uri=str(bad)), emit=keep(events)).frames())
    assert len(frames) < 100  # whatever decodes, then a clean end: no exception
    assert frames or events[-1]["type"] == "source_failed"


def test_garbage_video_never_opens_and_stop_ends_the_retries(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"\x00" * 1000)
    events = []
    cap = Capture(cfg(uri=str(bad), open_retries=1000), emit=keep(events))
    threading.Timer(0.3, cap.stop).start()
    assert list(cap.frames()) == []
    assert events and all(e["type"] == "source_error" for e in events)
    events.clear()
    assert list(Capture(cfg(uri=str(bad), open_retries=2), emit=keep(events)).frames()) == []
    assert [e["type"] for e in events] == ["source_error", "source_error", "source_failed"]


def test_folder_source_skips_corrupt_files(media, tmp_path):
    shutil.copy(media("obama"), tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8garbage")
    shutil.copy(media("astronaut"), tmp_path / "c.png")
    frames = list(Capture(cfg(kind="folder", uri=str(tmp_path))).frames())
    assert len(frames) == 2


@pytest.mark.parametrize(
    "frame,problem",
    [
        (np.zeros((10, 10, 3), np.float32), "dtype float32"),
        (np.zeros((4, 4, 3), np.uint8), "shape"),
        (np.zeros((10, 10, 4), np.uint8), "shape"),
        ("not an image", "not an image array"),
    ],
)
def test_bad_frames_are_named(frame, problem):
    assert problem in check_frame(frame)


def test_good_frame_passes():
    assert check_frame(np.zeros((48, 64, 3), np.uint8)) is None
