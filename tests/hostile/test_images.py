"""Bad pictures (issue 10, bug 3 and the image bounds): a 0-byte file, a picture too big to decode, a partially
decoded JPEG, through every command that reads photos and the loop on a folder source."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from tests.hostile.cli import ROOT, edgekit, one_line_error
from tests.hostile.conftest import events, summary, write_site

CORRUPT = "shelf/sku110k_sample/corrupt_test_22.jpg"


def huge_png(path: Path, side: int) -> Path:
    """A real, valid grey PNG of side x side pixels that compresses to a few MB (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    body = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", body)
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def shelf_site(zoo, tmp_path) -> Path:
    text = (ROOT / "configs" / "shelf.yaml").read_text().replace("runtime:\n", f"runtime:\n  models_dir: {zoo}\n", 1)
    cfg = tmp_path / "shelf.yaml"
    cfg.write_text(text)
    return cfg


@pytest.fixture
def empty(tmp_path) -> Path:
    p = tmp_path / "a-empty.jpg"  # sorts first: the good photos come after it
    p.write_bytes(b"")
    return p


@pytest.fixture
def small_shelf(shared_data, tmp_path) -> Path:
    """A real shelf photo at 640 px (keeps NanoDet's work small on a shared machine)."""
    import cv2

    img = cv2.imread(str(shared_data / "shelf/sku110k_sample/images/test_1.jpg"))
    out = tmp_path / "b-shelf.jpg"
    cv2.imwrite(str(out), cv2.resize(img, (480, 640)))
    return out


def test_a_zero_byte_photo_is_rejected_by_name_in_faces_enroll(zoo, media, tmp_path, empty):
    site = write_site(tmp_path, zoo)
    r = edgekit("faces", "enroll", "obama", empty, media("obama"), "--config", site)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "enrolled obama: 1 embedding(s)" in r.stdout
    assert f"rejected {empty}: image {empty}: empty file" in r.stderr


def test_shelf_count_reports_a_zero_byte_photo_and_counts_the_good_one_after_it(shelf_site, empty, small_shelf):
    r = edgekit("shelf", "count", empty, small_shelf, "--config", shelf_site, "--no-tiles")
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert lines[0] == {"image": str(empty), "error": f"image {empty}: empty file"}
    assert lines[1]["image"] == str(small_shelf) and "zones" in lines[1]
    one_line_error(r, "1 of 2 photos could not be read")


def test_shelf_preview_and_replay_of_a_zero_byte_photo_say_so_in_one_line(shelf_site, empty, small_shelf, tmp_path):
    r = edgekit("shelf", "preview", "--image", empty, "--config", shelf_site, "--out", tmp_path / "p.png", "--no-tiles")
    one_line_error(r, f"image {empty}: empty file")
    r = edgekit("shelf", "replay", empty, small_shelf, "--config", shelf_site, "--no-tiles", "--hold", "1")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert json.loads(r.stderr.splitlines()[0]) == {"image": str(empty), "error": f"image {empty}: empty file"}
    assert json.loads(r.stdout.splitlines()[-1])["type"] == "state"


def test_the_loop_on_a_folder_skips_a_zero_byte_file_and_keeps_going(zoo, photos, tmp_path):
    (photos / "0.jpg").write_bytes(b"")
    site = write_site(tmp_path, zoo, source={"kind": "folder", "uri": str(photos)})
    r = edgekit("run", "--config", site)
    assert r.returncode == 0, r.stderr[-2000:]
    skipped = [e for e in events(r) if e["type"] == "frame_unreadable"]
    assert [e["file"] for e in skipped] == [str(photos / "0.jpg")] and "empty file" in skipped[0]["error"]
    assert summary(r)["frames"] == 2


def test_a_picture_over_the_pixel_cap_is_refused_from_its_header(zoo, media, tmp_path):
    bomb = huge_png(tmp_path / "bomb.png", 12000)  # 144 Mpx: 432 MB decoded, 0.2 MB on disk
    assert bomb.stat().st_size < 1_000_000
    site = write_site(tmp_path, zoo)
    r = edgekit("faces", "enroll", "x", bomb, media("obama"), "--config", site)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"rejected {bomb}: image {bomb}: 12000x12000 pixels, over the limit of 50000000" in r.stderr
    # the cap is configurable (one key), and a configured cap below a real photo refuses it the same way
    site = write_site(tmp_path, zoo, limits={"max_image_pixels": 1000})
    r = edgekit("faces", "enroll", "y", media("obama"), "--config", site)
    one_line_error(r, "enroll y: no usable picture")
    assert "over the limit of 1000 pixels" in r.stderr and "limits.max_image_pixels" in r.stderr


def test_a_partially_decoded_jpeg_is_counted_and_flagged_degraded(shelf_site, shared_data):
    r = edgekit("shelf", "count", shared_data / CORRUPT, "--config", shelf_site, "--no-tiles")
    assert r.returncode == 0, r.stderr[-2000:]
    line = json.loads(r.stdout.splitlines()[0])
    assert "zones" in line and line["degraded"] == "Corrupt JPEG data: premature end of data segment"


def test_the_loop_flags_a_degraded_frame_from_a_folder(zoo, shared_data, photos, tmp_path):
    shutil.copy(shared_data / CORRUPT, photos / "3.jpg")
    site = write_site(tmp_path, zoo, source={"kind": "folder", "uri": str(photos)})
    r = edgekit("run", "--config", site)
    assert r.returncode == 0, r.stderr[-2000:]
    degraded = [e for e in events(r) if e["type"] == "frame_degraded"]
    assert [e["file"] for e in degraded] == [str(photos / "3.jpg")]
    assert summary(r)["frames"] == 3
