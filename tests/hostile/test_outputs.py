"""Output paths and growth (issue 10, bugs 6 and 9, thresholds): a directory where a file goes, a file where a
directory goes, a source that never opens, rotation and pruning, threshold sanity."""

from __future__ import annotations

import pytest

from edge.config import parse_config
from edge.errors import EdgekitError
from tests.hostile.cli import edgekit, one_line_error
from tests.hostile.conftest import events, write_site


def test_events_file_that_is_a_folder_is_one_line_at_load(zoo, media, tmp_path):
    (tmp_path / "events").mkdir()
    site = write_site(tmp_path, zoo, events={"file": str(tmp_path / "events")})
    r = edgekit("run", "--config", site, "--source", media("obama"))
    one_line_error(r, "events.file", str(tmp_path / "events"), "folder")


def test_crops_dir_that_is_a_file_is_one_line_at_load(zoo, media, tmp_path):
    (tmp_path / "crops").write_text("")
    site = write_site(tmp_path, zoo, events={"crops_dir": str(tmp_path / "crops")})
    r = edgekit("run", "--config", site, "--source", media("obama"))
    one_line_error(r, "events.crops_dir", str(tmp_path / "crops"), "not a folder")


def test_a_sink_that_fails_mid_run_does_not_kill_the_loop(zoo, media, photos, tmp_path):
    """events.file on a full disk (/dev/full: opens, every write fails): decisions still reach stdout, the failure is
    reported once as a sink_error event."""
    enroll_site = write_site(tmp_path, zoo)
    assert edgekit("faces", "enroll", "obama", media("obama"), "--config", enroll_site).returncode == 0
    site = write_site(
        tmp_path,
        zoo,
        "run.yaml",
        source={"kind": "folder", "uri": str(photos)},
        tracking={"max_missed": 0},
        events={"file": "/dev/full"},
    )
    r = edgekit("run", "--config", site)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [e["identity"] for e in events(r) if e["type"] == "face_recognized"] == ["obama", "obama"]
    errors = [e for e in events(r) if e["type"] == "sink_error"]
    assert len(errors) == 1 and "/dev/full" in errors[0]["sink"] and "No space left" in errors[0]["error"]


def test_the_events_file_rotates_by_size_and_count(zoo, media, photos, tmp_path):
    for i in range(3, 12):
        (photos / f"{i}.jpg").write_bytes(b"")  # each one a frame_unreadable event of ~200 bytes
    log = tmp_path / "events.jsonl"
    site = write_site(
        tmp_path,
        zoo,
        source={"kind": "folder", "uri": str(photos)},
        events={"stdout": False, "file": str(log), "max_bytes": 600, "keep_files": 2},
    )
    r = edgekit("run", "--config", site)
    assert r.returncode == 0, r.stderr[-2000:]
    files = sorted(p.name for p in tmp_path.glob("events.jsonl*"))
    assert files == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    assert all(p.stat().st_size <= 600 + 400 for p in tmp_path.glob("events.jsonl*"))


def test_crops_are_pruned_to_exactly_crops_keep(zoo, media, tmp_path):
    import shutil

    import cv2
    import numpy as np

    d = tmp_path / "many"
    d.mkdir()
    for i in range(5):  # five visits: a face, then an empty porch that ends its track
        shutil.copy(media("obama"), d / f"{i}a.jpg")
        cv2.imwrite(str(d / f"{i}b.png"), np.full((480, 640, 3), 90, np.uint8))
    crops = tmp_path / "crops"
    site = write_site(
        tmp_path,
        zoo,
        source={"kind": "folder", "uri": str(d)},
        tracking={"max_missed": 0},
        events={"crops_dir": str(crops), "crops_keep": 2},
    )
    r = edgekit("run", "--config", site)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sum(e["type"] == "face_unknown" for e in events(r)) == 5
    assert len(list(crops.glob("*.jpg"))) == 2


def test_a_source_that_never_opens_exits_non_zero(zoo, tmp_path):
    site = write_site(
        tmp_path, zoo, source={"uri": str(tmp_path / "no-such.mp4"), "open_retries": 1, "backoff_initial_s": 0.05}
    )
    r = edgekit("run", "--config", site)
    assert r.returncode == 3, (r.returncode, r.stderr[-2000:])
    assert "source_failed" in r.stdout
    assert any(line.startswith("error: source ") for line in r.stderr.splitlines()), r.stderr[-2000:]


@pytest.mark.parametrize(
    "thresholds",
    [{"recognize": -1, "unknown": -1, "instant": -1}, {"unknown": -0.1}, {"recognize": 1.2, "instant": 1.3}],
)
def test_thresholds_outside_zero_to_one_are_refused(thresholds):
    with pytest.raises(EdgekitError, match="thresholds"):
        parse_config({"thresholds": thresholds})
