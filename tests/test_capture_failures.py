"""Sources that go bad while running: a looping file deleted or cut short mid-run, a corrupt picture in a folder.
Each is an event naming the problem; the capture never raises into the loop."""

import shutil
import threading

from edge.capture import Capture
from edge.capture.base import CaptureConfig
from tests.fixtures.events import keep


def cfg(**kw):
    return CaptureConfig(**{"backoff_initial_s": 0.02, "backoff_max_s": 0.05, **kw})


def test_looping_file_deleted_mid_run_fails_with_an_event_after_its_retries(media, tmp_path):
    clip = tmp_path / "door.mp4"
    shutil.copy(media("carphone"), clip)
    events = []
    cap = Capture(cfg(uri=str(clip), at_end="loop", open_retries=3), emit=keep(events))
    n = 0
    for _ in cap.frames():
        n += 1
        if n == 50:
            clip.unlink()  # the open file still reads to its end (the inode lives); the reopen finds nothing
    assert n == 120
    types = [e["type"] for e in events]
    assert types == ["source_restarted", "source_error", "source_error", "source_error", "source_failed"]
    assert "not found" in events[-1]["error"] and events[-1]["source"] == str(clip)


def test_looping_file_cut_short_mid_run_ends_the_pass_and_then_fails_cleanly(media, tmp_path):
    clip = tmp_path / "door.mp4"
    data = media("bikes").read_bytes()
    clip.write_bytes(data)
    whole = sum(1 for _ in Capture(cfg(uri=str(clip))).frames())
    events = []
    n = 0
    for _ in Capture(cfg(uri=str(clip), at_end="loop", open_retries=2), emit=keep(events)).frames():
        n += 1
        if n == 10:
            clip.write_bytes(data[: len(data) // 4])  # rewritten in place, shorter, under the reader
    assert 10 <= n < whole  # the first pass ends where the data does, without an exception
    # an mp4 cut short has lost its index (moov atom): it no longer opens, and after its retries the source is failed
    assert [e["type"] for e in events] == ["source_restarted", "source_error", "source_error", "source_failed"]
    assert "cannot open" in events[-1]["error"]


def test_corrupt_picture_in_a_folder_is_an_event_naming_it(media, tmp_path):
    shutil.copy(media("obama"), tmp_path / "1.jpg")
    (tmp_path / "2.jpg").write_bytes(media("obama").read_bytes()[:3000])  # truncated JPEG
    (tmp_path / "3.png").write_bytes(b"not a png at all")
    shutil.copy(media("astronaut"), tmp_path / "4.png")
    events = []
    frames = list(Capture(cfg(kind="folder", uri=str(tmp_path)), emit=keep(events)).frames())
    assert len(frames) == 2 and [f.frame_id for f in frames] == [1, 2]
    bad = [e for e in events if e["type"] == "frame_unreadable"]
    assert [e["file"].rsplit("/", 1)[1] for e in bad] == ["2.jpg", "3.png"]
    assert all(e["error"] for e in bad)


def test_folder_that_vanishes_between_loops_is_reported_and_stop_ends_the_wait(media, tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    shutil.copy(media("obama"), folder / "a.jpg")
    events = []
    cap = Capture(cfg(kind="folder", uri=str(folder), at_end="loop", open_retries=1000), emit=keep(events))
    n = 0
    for _ in cap.frames():
        n += 1
        if n == 3:
            shutil.rmtree(folder)
            threading.Timer(0.3, cap.stop).start()
    assert n == 3
    errors = [e for e in events if e["type"] == "source_error"]
    assert errors and "not found or not a folder" in errors[0]["error"]


def test_picamera2_off_a_pi_is_one_clear_error_not_a_retry_loop():
    import pytest

    from edge.errors import EdgekitError

    try:
        import picamera2  # noqa: F401

        pytest.skip("picamera2 is importable here (a Raspberry Pi)")
    except ImportError:
        pass
    with pytest.raises(EdgekitError, match="picamera2 cannot be imported.*source.kind: opencv"):
        list(Capture(cfg(kind="picamera2")).frames())


def test_edgekit_run_with_picamera2_off_a_pi_says_so_in_one_line(zoo, tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "site.yaml").write_text(
        f"source: {{kind: picamera2}}\nruntime: {{models_dir: {zoo}}}\ngallery: {{path: {tmp_path / 'g.db'}}}\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(tmp_path / "site.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NOTIFY_SOCKET": ""},
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "picamera2 cannot be imported" in r.stderr.strip().splitlines()[-1]
