"""PyTorch and ONNX sources for real: MTCNN's ONet (its weights ship inside the PyPI package facenet-pytorch, its class
too) as a checkpoint plus class, and its ONNX export, through `edgekit convert`'s calibration, gate and card. The
engines live in virtualenvs of their own (`make engines`, ~3.5 GB): without them these tests skip."""

from __future__ import annotations

import json

import pytest
import yaml

from converters import engine_env

pytest.importorskip("tensorflow")

CARD = {
    "name": "mtcnn_onet",
    "task": "classifier",
    "licence": "MIT (facenet-pytorch)",
    "source": {
        "registry": "pypi",
        "package": "facenet-pytorch",
        "version": "2.6.0",
        "path": "facenet_pytorch/data/onet.pt",
        "sha256": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
        "format": "pytorch",
        "module": "facenet_pytorch.models.mtcnn:ONet",
        "module_kwargs": {"pretrained": False},
        "engine_packages": ["facenet-pytorch==2.6.0"],
        "engine_stubs": ["torchvision", "PIL", "requests", "tqdm"],  # a bare `make engines` venv lacks them
        "input_shape": [3, 48, 48],
        "outputs": {"prob": "output2"},
    },
    # MTCNN's own normalisation: (x - 127.5) / 128, RGB
    "preprocess": {
        "width": 48,
        "height": 48,
        "layout": "NCHW",
        "color": "RGB",
        "mean": [127.5] * 3,
        "std": [128.0] * 3,
    },
    "decoder": {"name": "classifier", "params": {"activation": "none"}},
    "labels": ["not_face", "face"],
    "calibration": {"images": ["shared:faces/att", "shared:faces/faceapi_bbt/identities"], "min_images": 100},
    "gate": {"min_cosine": 0.95},
}


def engines_ready():
    missing = [e for e in ("onnx2tf", "torch") if not (engine_env.python_of(e).parent.parent / ".installed").is_file()]
    if missing:
        pytest.skip(
            f"conversion engine virtualenv(s) {missing} not built in {engine_env.engines_dir()}: `make engines`"
        )


@pytest.fixture(scope="module")
def onet(shared_data):
    from converters.source_card import Source
    from edge.fetch import fetch

    engines_ready()
    return fetch(Source.model_validate(CARD["source"]))


def _convert(tmp_path, source_path, card: dict):
    from converters.convert import convert
    from converters.source_card import load_source_card

    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(card))
    return convert(source_path, load_source_card(path), "cpu", tmp_path / "out", threads=1)


def _gated(tmp_path, source_path, card: dict) -> dict:
    """Convert; the card written. MTCNN's ceil-mode max pools come out of onnx2tf as -inf PADV2 ops, which XNNPACK
    leaves on the CPU (2 partitions, refused by the cpu gate) until folded into SAME max pools before quantising."""
    return json.loads(_convert(tmp_path, source_path, card).card_path.read_text())


def test_pytorch_checkpoint_plus_class_is_calibrated_gated_and_carded(onet, tmp_path):
    card = _gated(tmp_path, onet, CARD)
    gate = card["gate"]
    assert gate["passed"] and gate["calibration_images"] >= 100 and gate["held_out_images"] >= 30
    assert gate["outputs"]["prob"]["cosine_min"] > 0.99  # INT8 vs float on held-out real faces
    assert gate["top1_agreement"] >= 0.95
    assert card["partitions"]["partitions"] == 1 and card["quantization"]["neg_inf_pads_into_maxpool"] == 1
    assert card["preprocess"]["layout"] == "NHWC"  # onnx2tf laid the input out NHWC
    assert card["quantization"]["engine"] == "ai-edge-quantizer"
    assert card["quantization"]["source_engine"].startswith("torch.onnx.export")


def test_onnx_export_of_the_same_model_takes_the_onnx_path(onet, tmp_path):
    engine_env.add_packages("torch", CARD["source"]["engine_packages"])
    script = str(engine_env.Path(__file__).resolve().parents[1] / "converters" / "engines" / "torch_to_onnx.py")
    onnx_path = tmp_path / "onet.onnx"
    engine_env.run(
        "torch",
        [
            script,
            str(onet),
            str(onnx_path),
            "3,48,48",
            "--module",
            CARD["source"]["module"],
            "--kwargs",
            json.dumps({"pretrained": False}),
            "--stub",
            "torchvision",
            "--stub",
            "PIL",
            "--stub",
            "requests",
            "--stub",
            "tqdm",
        ],
        "export",
    )
    card = {**CARD, "name": "mtcnn_onet_onnx", "source": {**CARD["source"], "format": "onnx"}}
    for k in ("module", "module_kwargs", "engine_packages", "engine_stubs", "input_shape"):
        card["source"].pop(k)
    gate = _gated(tmp_path, onnx_path, card)["gate"]
    assert gate["passed"] and gate["outputs"]["prob"]["cosine_min"] > 0.99 and gate["top1_agreement"] >= 0.95


def test_a_plain_checkpoint_without_its_class_is_one_clear_error(onet, tmp_path):
    from converters import sources
    from converters.source_card import Source
    from edge.errors import EdgekitError

    src = Source.model_validate({k: v for k, v in CARD["source"].items() if k not in ("module", "module_kwargs")})
    with pytest.raises(EdgekitError, match="needs --module pkg.mod:Class"):
        sources.load(src, onet)
