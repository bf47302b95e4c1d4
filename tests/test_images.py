"""Reading images: bad files give one clear error naming the file; nothing crashes."""

import numpy as np
import pytest

from edge.errors import EdgekitError
from edge.images import list_images, read_image


def test_truncated_jpeg_is_named(media, tmp_path):
    data = media("obama").read_bytes()
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(EdgekitError, match="cut.jpg: truncated JPEG"):
        read_image(bad)


def test_garbage_and_missing_files(tmp_path):
    (tmp_path / "x.png").write_bytes(b"definitely not a png")
    with pytest.raises(EdgekitError, match="x.png: cannot be decoded"):
        read_image(tmp_path / "x.png")
    with pytest.raises(EdgekitError, match="nope.jpg: not found"):
        read_image(tmp_path / "nope.jpg")


def test_real_photo_reads_as_bgr(media):
    img = read_image(media("astronaut"))
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8


def test_shared_corrupt_shelf_photo_never_crashes(shared_data):
    # Its JPEG stream is damaged mid-way but ends with an end-of-image marker: libjpeg decodes it with a warning and a
    # damaged lower part. A degraded image or a clear error are both acceptable; any other exception is not.
    try:
        img = read_image(shared_data / "shelf" / "sku110k_sample" / "corrupt_test_22.jpg")
    except EdgekitError as e:
        assert "corrupt_test_22.jpg" in str(e)
    else:
        assert img.ndim == 3 and img.shape[2] == 3


def test_list_images_is_recursive_and_filters(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/1.jpg", "a/b/2.PNG", "a/b/3.pgm", "a/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["1.jpg", "2.PNG", "3.pgm"]
    with pytest.raises(EdgekitError, match="not found or not a folder"):
        list_images(tmp_path / "missing")
