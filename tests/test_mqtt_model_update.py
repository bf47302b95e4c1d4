"""Model updates with the real zoo artifacts: a signed model pushed in chunks through a real mosquitto is installed
and smoke-tested; a tampered, unsigned or wrongly signed model is refused and the old one stays; a signed model that
fails its smoke test is rolled back; every outcome lands in the retained state."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.card import sha256_file
from edge.errors import EdgekitError
from edge.fleet.config import ModelUpdateConfig
from edge.fleet.link import DeviceLink
from edge.fleet.model_update import ModelUpdater
from edge.runtime import CardModel
from fleetctl.operator import Operator
from fleetctl.signing import public_key_b64, sign_model
from tests.fixtures.mqtt import Consumer, link_cfg
from tests.mqtt_broker import MOSQUITTO, Broker

NAME = "blazeface_short"


@pytest.fixture
def update(zoo):
    """The float build of the same model, carded as an update for it."""
    tflite = (zoo / f"{NAME}.float.tflite").read_bytes()
    card = {**json.loads((zoo / f"{NAME}.float.card.json").read_text()), "name": NAME, "tflite": f"{NAME}.tflite"}
    return tflite, card


def updater(models: Path, key, media, on_swapped=None) -> ModelUpdater:
    cfg = ModelUpdateConfig(public_key=public_key_b64(key), models_dir=str(models), sample_frames=[str(media("obama"))])
    return ModelUpdater(cfg, on_outcome=lambda o: outcomes.append(o), on_swapped=on_swapped)


outcomes: list = []


def push(u: ModelUpdater, begin: dict, tflite: bytes) -> dict:
    t = u.command({"step": "begin", **begin})["transfer"]
    for i, at in enumerate(range(0, len(tflite), 32 * 1024)):
        u.command(
            {"step": "chunk", "transfer": t, "index": i, "data": base64.b64encode(tflite[at : at + 32 * 1024]).decode()}
        )
    return u.command({"step": "commit", "transfer": t})


def test_tampered_unsigned_and_foreign_models_are_refused_and_the_old_one_stays(device_models, update, media):
    key = Ed25519PrivateKey.generate()
    u = updater(device_models, key, media)
    tflite, card = update
    before = sha256_file(device_models / f"{NAME}.tflite")
    flipped = bytearray(tflite)
    flipped[len(flipped) // 2] ^= 0xFF
    with pytest.raises(EdgekitError, match="sha256 mismatch"):  # signed, then altered on the way
        push(u, sign_model(key, NAME, tflite, card), bytes(flipped))
    with pytest.raises(EdgekitError, match="unsigned"):
        push(u, {k: v for k, v in sign_model(key, NAME, tflite, card).items() if k != "signature"}, tflite)
    with pytest.raises(EdgekitError, match="bad signature"):
        push(u, sign_model(Ed25519PrivateKey.generate(), NAME, tflite, card), tflite)
    with pytest.raises(EdgekitError, match="bad signature"):  # a card edited after signing
        push(u, {**sign_model(key, NAME, tflite, card), "card": {**card, "labels": ["x"]}}, tflite)
    with pytest.raises(EdgekitError, match="not a model on this device"):
        push(u, sign_model(key, "../../etc/passwd", tflite, card), tflite)
    assert sha256_file(device_models / f"{NAME}.tflite") == before
    CardModel(device_models / f"{NAME}.card.json")  # the old model still loads and matches its card
    assert not list((device_models / ".incoming").iterdir())  # nothing half-received left behind


def test_a_model_that_fails_its_smoke_test_is_rolled_back(device_models, update, media):
    key = Ed25519PrivateKey.generate()
    u = updater(device_models, key, media)
    tflite, card = update
    broken = tflite[: len(tflite) // 2]  # correctly signed, but truncated: it cannot load
    broken_card = {**card, "sha256": hashlib.sha256(broken).hexdigest()}
    before = sha256_file(device_models / f"{NAME}.tflite")
    outcomes.clear()
    with pytest.raises(EdgekitError, match="rolled back"):
        push(u, sign_model(key, NAME, broken, broken_card), broken)
    assert sha256_file(device_models / f"{NAME}.tflite") == before
    assert CardModel(device_models / f"{NAME}.card.json").card.sha256 == before
    assert outcomes[-1]["ok"] is False and "rolled back" in outcomes[-1]["message"]

    def refuse(name, path):
        raise RuntimeError("the loop could not reload it")

    u = updater(device_models, key, media, on_swapped=refuse)
    with pytest.raises(EdgekitError, match="could not reload"):  # the loop refusing it rolls back too
        push(u, sign_model(key, NAME, tflite, card), tflite)
    assert sha256_file(device_models / f"{NAME}.tflite") == before


@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto")
def test_signed_model_pushed_over_mqtt_is_installed_and_reported(device_models, update, media, tmp_path):
    key = Ed25519PrivateKey.generate()
    broker = Broker(tmp_path / "b").start()
    try:
        mu = ModelUpdateConfig(
            public_key=public_key_b64(key), models_dir=str(device_models), sample_frames=[str(media("obama"))]
        )
        link = DeviceLink(link_cfg(broker.port, tmp_path, model_update=mu), "door9").start()
        assert link.connected.wait(5)
        states = Consumer(broker.port, "edgekit/door9/state")
        op = Operator(port=broker.port)
        tflite, card = update
        seen = []
        reply = op.push_model("door9", NAME, tflite, card, key, progress=lambda done, total: seen.append(done))
        assert reply["ok"], reply
        assert reply["result"]["ok"] and "smoke test" in reply["result"]["message"]
        assert seen[-1] == len(tflite) and len(seen) == -(-len(tflite) // (32 * 1024))
        assert sha256_file(device_models / f"{NAME}.tflite") == hashlib.sha256(tflite).hexdigest()
        assert CardModel(device_models / f"{NAME}.card.json").input_dtype.name == "float32"  # the float build runs now
        assert states.wait(
            lambda: any(b.get("model_updates", {}).get(NAME, {}).get("ok") for b, _ in states.on("state"))
        )
        bad = op.push_model("door9", NAME, tflite, card, Ed25519PrivateKey.generate())
        assert bad["ok"] is False and "bad signature" in bad["error"]
        link.stop()
        # a restart: the retained state it publishes still says what the last update of the model did
        n = len(states.on("state"))
        link = DeviceLink(link_cfg(broker.port, tmp_path, model_update=mu), "door9").start()
        assert link.connected.wait(5)
        assert states.wait(lambda: len(states.on("state")) > n)
        restarted = states.on("state")[n][0]
        assert restarted.get("model_updates", {}).get(NAME, {}).get("ok") is True, restarted
        op.close()
        states.close()
        link.stop()
    finally:
        broker.stop()


def test_a_model_fetched_from_an_operator_url_is_checked_like_a_pushed_one(device_models, update, media, http_server):
    key = Ed25519PrivateKey.generate()
    u = updater(device_models, key, media)
    tflite, card = update
    www, base = http_server
    (www / "good.tflite").write_bytes(tflite)
    flipped = bytearray(tflite)
    flipped[100] ^= 0xFF
    (www / "tampered.tflite").write_bytes(bytes(flipped))
    (www / "longer.tflite").write_bytes(tflite + b"\0" * 10)
    signed = sign_model(key, NAME, tflite, card)
    before = sha256_file(device_models / f"{NAME}.tflite")
    for url, why in [
        (base + "tampered.tflite", "sha256 mismatch"),
        (base + "missing.tflite", "cannot fetch the model.*404"),
        (base + "longer.tflite", "more than the announced"),
        ("file:///etc/passwd", "url must be http"),
        ("http://127.0.0.1:1/x.tflite", "cannot fetch the model.*refused"),
    ]:
        with pytest.raises(EdgekitError, match=why):
            u.command({"step": "begin", "url": url, **signed})
        assert sha256_file(device_models / f"{NAME}.tflite") == before, url
    assert not list((device_models / ".incoming").glob("*.tflite"))  # nothing half-downloaded left behind
    with pytest.raises(EdgekitError, match="bad signature"):  # refused before anything is downloaded
        u.command(
            {
                "step": "begin",
                "url": base + "good.tflite",
                **sign_model(Ed25519PrivateKey.generate(), NAME, tflite, card),
            }
        )
    done = u.command({"step": "begin", "url": base + "good.tflite", **signed})
    assert done["ok"] and "smoke test" in done["message"]
    assert sha256_file(device_models / f"{NAME}.tflite") == hashlib.sha256(tflite).hexdigest()


def test_smoke_test_decodes_with_the_card_decoder(device_models, update, media):
    """A model whose outputs do not fit its card's decoder (here: BlazeFace carded with too few anchors) is rolled
    back even though it loads and gives finite numbers."""
    key = Ed25519PrivateKey.generate()
    u = updater(device_models, key, media)
    tflite, card = update
    wrong = {
        **card,
        "decoder": {**card["decoder"], "params": {**card["decoder"]["params"], "strides": [16, 16, 16, 16]}},
    }
    before = sha256_file(device_models / f"{NAME}.tflite")
    with pytest.raises(EdgekitError, match="rolled back.*do not decode with its card's decoder 'blazeface'"):
        push(u, sign_model(key, NAME, tflite, wrong), tflite)
    assert sha256_file(device_models / f"{NAME}.tflite") == before
