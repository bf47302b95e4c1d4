"""The operator's keys and signatures: signed commands (checked on the device by edge.fleet.security) and signed
model pushes (checked by edge.fleet.model_update). The private key never reaches a device."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.errors import EdgekitError
from edge.fleet.gallery_update import gallery_manifest
from edge.fleet.model_update import manifest
from edge.fleet.security import signed_bytes
from edge.private import check_secret


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """A private key from `edgekit fleet keygen`, refused if other users can read it."""
    path = check_secret(path, "signing key")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise EdgekitError(
            f"signing key {path}: cannot be read ({e.__class__.__name__})",
            "make one with `edgekit fleet keygen --out KEYFILE`",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EdgekitError(f"signing key {path}: not an Ed25519 key", "make one with `edgekit fleet keygen`")
    return key


def sign_command(
    device_id: str,
    name: str,
    body: dict,
    *,
    ed25519: Ed25519PrivateKey | None = None,
    hmac_key: bytes | None = None,
    now: float | None = None,
    nonce: str | None = None,
) -> dict:
    """Add ts, nonce and sig to a command body."""
    body = {**body, "ts": time.time() if now is None else now, "nonce": nonce or secrets.token_hex(12)}
    data = signed_bytes(device_id, name, body)
    if ed25519 is not None:
        body["sig"] = "ed25519:" + base64.b64encode(ed25519.sign(data)).decode()
    elif hmac_key is not None:
        body["sig"] = "hmac-sha256:" + base64.b64encode(hmac.new(hmac_key, data, hashlib.sha256).digest()).decode()
    else:
        raise ValueError("sign_command needs an Ed25519 key or an HMAC key")
    return body


def sign_model(private_key, model: str, tflite: bytes, card: dict) -> dict:
    """`edgekit fleet push-model`: the begin message's fields."""
    sha = hashlib.sha256(tflite).hexdigest()
    return {
        "model": model,
        "size": len(tflite),
        "sha256": sha,
        "card": card,
        "signature": base64.b64encode(private_key.sign(manifest(model, sha, card))).decode(),
    }


def sign_gallery(private_key, path: str | Path) -> tuple[bytes, dict]:
    """`edgekit fleet push-gallery`: a gallery export of one embedder (checked as the devices will check it) and its
    begin message's fields (`private_key` None: unsigned, which devices refuse unless mqtt.gallery_update
    .allow_unsigned)."""
    from edge.faces.gallery import export_embedders, read_export

    export = Path(path).read_bytes()
    embedders = export_embedders(read_export(path))
    if len(embedders) != 1:
        made = ", ".join(t.describe() for t in embedders) or "none: it is empty"
        raise EdgekitError(
            f"gallery export {path}: made by {len(embedders)} embedders ({made}); a push carries one",
            "export a gallery enrolled with one embedder (`edgekit faces export`)",
        )
    tag = embedders[0]
    embedder = {"model": tag.model, "weights": tag.weights, "dim": tag.dim}
    sha = hashlib.sha256(export).hexdigest()
    begin = {"size": len(export), "sha256": sha, "embedder": embedder}
    if private_key is not None:
        begin["signature"] = base64.b64encode(private_key.sign(gallery_manifest(sha, embedder))).decode()
    return export, begin
