"""Property tests (issue 10, "prove it"): random bytes and truncated real files through every decoder path the
device has — images, video, model cards, model files, gallery exports, MQTT command payloads (chunked model transfers
included). Each refusal is an EdgekitError (or an error reply) of one line; nothing else escapes; the loop on a
folder of such files keeps running."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.errors import EdgekitError
from tests.hostile.cli import edgekit
from tests.hostile.conftest import fleet, operator, summary, write_site

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MAGIC = [
    b"",
    b"\xff\xd8\xff\xe0",
    b"\x89PNG\r\n\x1a\n",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"BM",
    b"P6\n",
    b"II*\x00",
    b"GIF89a",
    b"\x00\x00\x00\x18ftypmp42",
]
blobs = st.builds(lambda m, b: m + b, st.sampled_from(MAGIC), st.binary(max_size=2048))


def one_line(e: Exception) -> None:
    assert isinstance(e, EdgekitError), repr(e)
    assert "\n" not in str(e) and str(e), repr(e)


def cut(data: bytes, at: float) -> bytes:
    return data[: int(len(data) * at)]


class RealFiles:
    """Real photos and footage by name, read once (not a dict: a failing example then does not print megabytes)."""

    def __init__(self, media):
        self.media, self.cache = media, {}

    def __getitem__(self, name: str) -> bytes:
        if name not in self.cache:
            self.cache[name] = self.media(name).read_bytes()
        return self.cache[name]

    def __repr__(self) -> str:
        return "RealFiles(obama, astronaut, carphone)"


@pytest.fixture(scope="module")
def real_files(media):
    return RealFiles(media)


# ---- images ----
@FAST
@given(data=blobs)
def test_random_bytes_as_an_image_are_one_line(tmp_path, data):
    from edge.images import read_image

    p = tmp_path / "x.jpg"
    p.write_bytes(data)
    try:
        read_image(p)
    except Exception as e:  # noqa: BLE001 - the property: only one kind escapes
        one_line(e)


@FAST
@given(at=st.floats(0, 0.999), which=st.sampled_from(["obama", "astronaut"]), flip=st.integers(0, 10_000))
def test_truncated_or_damaged_real_photos_are_one_line_or_a_picture(tmp_path, real_files, at, which, flip):
    from edge.images import read_image

    data = bytearray(cut(real_files[which], at))
    if data and flip % 2:
        data[flip % len(data)] ^= 0xA5
    p = tmp_path / ("x.png" if which == "astronaut" else "x.jpg")
    p.write_bytes(bytes(data))
    try:
        img = read_image(p)
    except Exception as e:  # noqa: BLE001
        one_line(e)
    else:
        assert img.ndim == 3 and img.shape[2] == 3 and img.size


# ---- video ----
@SLOW
@given(at=st.floats(0, 0.9), noise=st.booleans())
def test_a_truncated_or_random_video_ends_the_source_cleanly(tmp_path, real_files, at, noise):
    from edge.capture import Capture
    from edge.capture.base import CaptureConfig

    p = tmp_path / "v.mp4"
    p.write_bytes(np.random.default_rng(int(at * 1e6)).bytes(4096) if noise else cut(real_files["carphone"], at))
    seen = []
    cfg = CaptureConfig(uri=str(p), open_retries=0, backoff_initial_s=0.01)
    try:  # the event callback is `emit` since the typed event bus, `on_event` before
        cap = Capture(cfg, emit=seen.append)
    except TypeError:
        cap = Capture(cfg, on_event=seen.append)
    frames = sum(1 for _ in cap.frames())
    assert frames >= 0
    for e in seen:
        assert "\n" not in json.dumps(e if isinstance(e, dict) else e.to_json())


# ---- model cards and model files ----
@FAST
@given(
    data=st.one_of(
        st.binary(max_size=512),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
            lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=6),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_a_random_card_is_one_line(tmp_path, data):
    from edge.card import load_card

    p = tmp_path / "m.card.json"
    p.write_bytes(data)
    try:
        load_card(p)
    except Exception as e:  # noqa: BLE001
        one_line(e)


@FAST
@given(
    mutate=st.sampled_from(["name", "task", "tflite", "preprocess", "decoder", "labels", "sha256"]),
    value=st.one_of(st.none(), st.integers(), st.text(max_size=30), st.lists(st.integers(), max_size=3)),
)
def test_a_real_card_with_one_field_replaced_is_one_line(zoo, tmp_path, mutate, value):
    from edge.card import load_card

    card = json.loads((zoo / "blazeface_short.card.json").read_text())
    card[mutate] = value
    shutil.copy(zoo / "blazeface_short.tflite", tmp_path / "blazeface_short.tflite")
    p = tmp_path / "blazeface_short.card.json"
    p.write_text(json.dumps(card))
    try:
        load_card(p)
    except Exception as e:  # noqa: BLE001
        one_line(e)


@SLOW
@given(at=st.floats(0, 0.999), noise=st.booleans())
def test_a_truncated_or_random_model_file_with_a_matching_card_is_one_line(zoo, tmp_path, at, noise):
    """The sha256 in the card matches (a card rewritten for the damaged file): loading must still fail in one line."""
    import hashlib

    from edge.runtime import CardModel as Model

    good = (zoo / "blazeface_short.tflite").read_bytes()
    data = np.random.default_rng(int(at * 1e6)).bytes(len(good)) if noise else cut(good, at)
    (tmp_path / "blazeface_short.tflite").write_bytes(data)
    card = {**json.loads((zoo / "blazeface_short.card.json").read_text()), "sha256": hashlib.sha256(data).hexdigest()}
    (tmp_path / "blazeface_short.card.json").write_text(json.dumps(card))
    try:
        m = Model(tmp_path / "blazeface_short.card.json")
        m.run(np.zeros(m.input_shape, np.float32))
    except Exception as e:  # noqa: BLE001
        one_line(e)


# ---- gallery exports ----
vectors = st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=0, max_size=8)


@FAST
@given(
    doc=st.one_of(
        st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
        st.builds(
            lambda rows: json.dumps({"format": "edgekit-gallery/1", "embeddings": rows}),
            st.lists(
                st.fixed_dictionaries(
                    {
                        "identity": st.one_of(st.text(max_size=8), st.integers(), st.none()),
                        "model": st.sampled_from(["faceres", "facenet", "", "x" * 300]),
                        "vector": st.one_of(
                            st.text(max_size=12),
                            vectors.map(lambda v: base64.b64encode(np.asarray(v, np.float32).tobytes()).decode()),
                        ),
                    }
                ),
                max_size=4,
            ),
        ),
    )
)
def test_a_random_gallery_export_is_all_or_nothing_and_one_line(tmp_path, doc):
    from edge.faces.gallery import Gallery

    p = tmp_path / "e.json"
    p.write_text(doc)
    g = Gallery(tmp_path / f"g{abs(hash(doc))}.db")
    try:
        n = g.import_(p)
    except Exception as e:  # noqa: BLE001
        one_line(e)
        assert g.identities() == {}
    else:
        vecs, names = g.matrix("faceres")
        assert n >= 0 and np.isfinite(vecs).all()
    finally:
        g.close()


# ---- MQTT payloads, chunked model transfers included ----
@pytest.fixture
def updater(device_models, media):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    conf = fleet("config").ModelUpdateConfig(
        public_key=operator("public_key_b64")(key),
        models_dir=str(device_models),
        sample_frames=[str(media("obama"))],
    )
    return fleet("model_update").ModelUpdater(conf), key


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
    max_leaves=15,
)


@FAST
@given(
    payload=st.one_of(
        st.binary(max_size=400),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(
            st.sampled_from(
                ["step", "transfer", "index", "data", "model", "size", "sha256", "card", "signature", "url", "id"]
            ),
            json_values,
            max_size=8,
        ).map(lambda d: json.dumps(d).encode()),
    )
)
def test_random_command_payloads_get_an_error_reply(updater, payload):
    handle = fleet("commands").handle_command
    reply = handle({"model_update": updater[0].command}, "model_update", payload, 65536)
    assert reply["ok"] is False and "\n" not in reply["error"], reply


@SLOW
@given(
    chunks=st.lists(
        st.tuples(
            st.integers(-2, 6),
            st.one_of(
                st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()), st.text(max_size=20), st.none()
            ),
        ),
        max_size=8,
    ),
    commit=st.booleans(),
)
def test_random_chunks_after_a_signed_begin_are_refused_and_leave_nothing(updater, zoo, chunks, commit):
    u, key = updater
    tflite = (zoo / "blazeface_short.float.tflite").read_bytes()
    card = {
        **json.loads((zoo / "blazeface_short.float.card.json").read_text()),
        "name": "blazeface_short",
        "tflite": "blazeface_short.tflite",
    }
    begin = operator("sign_model")(key, "blazeface_short", tflite, card)
    handle = fleet("commands").handle_command
    reply = handle(
        {"model_update": u.command}, "model_update", json.dumps({"step": "begin", **begin}).encode(), 1 << 20
    )
    t = reply["result"]["transfer"]
    for index, data in chunks:
        body = {"step": "chunk", "transfer": t, "index": index, "data": data}
        reply = handle({"model_update": u.command}, "model_update", json.dumps(body).encode(), 1 << 20)
        assert "\n" not in reply.get("error", ""), reply
    end = {"step": "commit" if commit else "abort", "transfer": t}
    reply = handle({"model_update": u.command}, "model_update", json.dumps(end).encode(), 1 << 20)
    assert reply["ok"] is not True or not commit  # random chunks never make a whole signed model
    staging = Path(u.dir) / ".incoming"
    assert not staging.exists() or list(staging.iterdir()) == []


# ---- the loop on a folder of hostile files keeps running ----
def test_the_loop_runs_through_a_folder_of_random_and_truncated_files(zoo, media, tmp_path, real_files):
    d = tmp_path / "hostile"
    d.mkdir()
    rng = np.random.default_rng(1)
    for i, magic in enumerate(MAGIC):
        (d / f"r{i}.jpg").write_bytes(magic + rng.bytes(int(rng.integers(0, 3000))))
    for i, at in enumerate((0.0, 0.01, 0.3, 0.7, 0.99)):
        (d / f"t{i}.jpg").write_bytes(cut(real_files["obama"], at))
    shutil.copy(media("obama"), d / "zz-good.jpg")
    site = write_site(tmp_path, zoo, source={"kind": "folder", "uri": str(d)})
    r = edgekit("run", "--config", site)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert summary(r)["frames"] >= 1  # the good photo at the end was reached
