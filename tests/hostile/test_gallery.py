"""Galleries that lie or cannot be written (issue 10, bugs 2, 4, 5): a NaN vector, vectors of another embedder,
read-only files and folders. Each path in is checked; the matcher survives a bad row."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from edge.errors import EdgekitError
from edge.faces.gallery import Gallery
from edge.faces.matcher import Matcher
from tests.hostile.cli import edgekit, one_line_error
from tests.hostile.conftest import events, install_as, read_only, write_site


def export_with(path: Path, vectors: list[np.ndarray], model: str = "faceres") -> Path:
    rows = [
        {
            "identity": f"p{i}",
            "model": model,
            "vector": base64.b64encode(np.asarray(v, np.float32).tobytes()).decode(),
            "source": "",
            "created": 0.0,
        }
        for i, v in enumerate(vectors)
    ]
    path.write_text(json.dumps({"format": "edgekit-gallery/1", "embeddings": rows}))
    return path


@pytest.fixture
def enrolled(zoo, media, tmp_path) -> Path:
    """A site whose gallery holds Obama, enrolled with FaceRes through the CLI."""
    site = write_site(tmp_path, zoo)
    r = edgekit("faces", "enroll", "obama", media("obama"), "--config", site)
    assert r.returncode == 0, r.stderr
    return site


# ---- bug 2: one NaN vector ----
def test_an_export_holding_a_nan_vector_is_refused_whole(zoo, tmp_path):
    good = np.ones(1024, np.float32) / 32
    bad = good.copy()
    bad[7] = np.nan
    site = write_site(tmp_path, zoo)
    r = edgekit("faces", "import", export_with(tmp_path / "e.json", [good, bad]), "--config", site)
    one_line_error(r, "e.json", "NaN or infinity", "p1")
    assert Gallery(tmp_path / "gallery.db").identities() == {}  # all or nothing


@pytest.mark.parametrize("bad", [np.full(1024, np.inf), np.zeros(1024)], ids=["inf", "zero"])
def test_every_path_in_refuses_a_vector_that_cannot_be_matched(tmp_path, bad):
    g = Gallery(tmp_path / "g.db")
    with pytest.raises(EdgekitError, match="NaN or infinity|zero"):
        g.add("x", "faceres", bad)
    with pytest.raises(EdgekitError, match="NaN or infinity|zero"):
        g.import_(export_with(tmp_path / "e.json", [bad]))
    assert g.identities() == {}


def test_the_matcher_survives_a_bad_row(tmp_path):
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 64)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    rows = np.vstack([v, np.full((1, 64), np.nan, np.float32)])
    m = Matcher(rows, np.asarray(["a", "b", "c", "d"], object))
    names, scores = m.match(v)
    assert list(names) == ["a", "b", "c"] and np.allclose(scores, 1.0, atol=1e-5)
    assert m.dropped == 1


def test_a_nan_row_written_behind_the_gallery_s_back_does_not_turn_recognition_off(enrolled, media, tmp_path):
    db = sqlite3.connect(tmp_path / "gallery.db")  # another program writes a bad row straight into the file
    vec = np.full(1024, np.nan, np.float32).tobytes()
    db.execute(
        "INSERT INTO embeddings(identity, model, vector, source, created) VALUES ('zz', 'faceres', ?, '', 0)", (vec,)
    )
    db.commit()
    db.close()
    r = edgekit("run", "--config", enrolled, "--source", media("obama"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert [e["identity"] for e in events(r) if e["type"] == "face_recognized"] == ["obama"]


# ---- bug 4: vectors of another embedder ----
def test_a_gallery_of_another_size_than_the_embedder_is_refused_at_start(enrolled, zoo, media, tmp_path, device_models):
    install_as(device_models, zoo, "facenet", "faceres")  # the faceres slot now holds FaceNet (512-d) weights
    site = write_site(tmp_path, device_models, "swapped.yaml")
    r = edgekit("run", "--config", site, "--source", media("obama"))
    one_line_error(r, "gallery", "faceres", "1024", "512")


def test_a_facenet_config_over_a_faceres_gallery_says_so_instead_of_calling_everyone_unknown(
    enrolled, zoo, media, tmp_path
):
    site = write_site(tmp_path, zoo, "facenet.yaml", embedder={"model": "facenet"})
    r = edgekit("run", "--config", site, "--source", media("obama"))
    one_line_error(r, "gallery", "faceres", "facenet")


def test_the_gallery_records_which_embedder_made_each_vector(enrolled, zoo, tmp_path):
    weights = json.loads((zoo / "faceres.card.json").read_text())["source"]["sha256"]
    g = Gallery(tmp_path / "gallery.db")
    assert g.embedders() == [{"model": "faceres", "weights": weights, "dim": 1024, "embeddings": 1}]


def test_faces_list_and_import_filter_or_refuse_vectors_of_another_embedder(enrolled, zoo, tmp_path):
    other = write_site(tmp_path, zoo, "facenet.yaml", embedder={"model": "facenet"})  # the same gallery
    r = edgekit("faces", "list", "--config", other)
    assert r.returncode == 0 and r.stdout == "", r.stdout
    assert r.stderr.strip().splitlines() == [
        f"note: 1 identity (1 embedding) in {tmp_path / 'gallery.db'} was enrolled "
        "with another embedder (faceres), not facenet: hidden"
    ]
    # an export of 512-d vectors named faceres (or of weights other than the card's) is refused by the faceres site
    r = edgekit("faces", "import", export_with(tmp_path / "e.json", [np.ones(512) / 512**0.5]), "--config", enrolled)
    one_line_error(r, "e.json", "512", "1024")


# ---- bug 5: read-only galleries ----
def test_faces_list_works_on_a_read_only_gallery_and_enrol_says_it_is_read_only(enrolled, media, tmp_path):
    g = tmp_path / "gallery.db"
    Gallery(g).close()  # checkpointed: the WAL is folded into the file
    files = [g, *(p for p in (Path(f"{g}-wal"), Path(f"{g}-shm")) if p.exists())]
    with read_only(*files, tmp_path):
        r = edgekit("faces", "list", "--config", enrolled)
        assert r.returncode == 0 and r.stdout == "obama\t1\n", (r.stdout, r.stderr[-2000:])
        r = edgekit("faces", "enroll", "b", media("biden"), "--config", enrolled)
        one_line_error(r, f"gallery {g}: read-only", "enrol")
        r = edgekit("run", "--config", enrolled, "--source", media("obama"))  # recognition needs no writes
        assert r.returncode == 0, r.stderr[-2000:]
        assert [e["identity"] for e in events(r) if e["type"] == "face_recognized"] == ["obama"]


def test_a_gallery_that_cannot_be_created_is_one_line(zoo, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    site = write_site(tmp_path, zoo, gallery={"path": str(folder / "sub" / "g.db")})
    with read_only(folder):
        r = edgekit("faces", "list", "--config", site)
        assert r.returncode == 0 and r.stdout == "", r.stderr  # nothing enrolled yet: an empty list, not a traceback
        r = edgekit("faces", "import", export_with(tmp_path / "e.json", [np.ones(1024) / 32]), "--config", site)
        one_line_error(r, str(folder / "sub" / "g.db"), "cannot be created")
