"""Signed commands: a command carries `ts` (epoch seconds), a `nonce` and `sig`, a signature over the device id, the
command name and the body without `sig` (canonical JSON), made with an Ed25519 private key or an HMAC-SHA256 secret
the device knows. A signature binds the command to one device and one name; the time window and the nonce memory stop
a captured command from being replayed. Keys are base64 (Ed25519: the 32 raw public-key bytes)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from edge.errors import EdgekitError
from edge.private import check_secret


class SigningConfig(BaseModel):
    """`mqtt.signing`: who may command the device. A command that changes it (enroll, remove_identity, set_config,
    restart, model_update, ...) runs only when signed by a key here; read-only ones (stats, get_config, identities,
    ...) too, unless `unsigned_read_only`. `allow_unsigned` (labs only) takes every command unsigned, and the device
    says so at start and in its retained status."""

    model_config = ConfigDict(extra="forbid")
    ed25519_public_keys: list[str] = []  # base64 raw public keys (`edgekit fleet keygen` prints one)
    hmac_key_file: str | None = None  # a file holding a shared secret (0600: refused if others can read it)
    window_s: float = Field(120.0, gt=0)  # a command older or newer than this is refused
    unsigned_read_only: bool = False  # answer read-only commands unsigned (anyone on the broker can then read them)
    allow_unsigned: bool = False  # labs only: any client on the broker can change the device


def signed_bytes(device_id: str, name: str, body: dict) -> bytes:
    unsigned = {k: v for k, v in body.items() if k != "sig"}
    return (
        f"edgekit-cmd\n{device_id}\n{name}\n".encode()
        + json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    )


def load_public_key(text: str, what: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise EdgekitError(
            f"{what}: not a base64 Ed25519 public key (32 bytes)",
            "paste the line `edgekit fleet keygen` printed as 'public key'",
        ) from None


class CommandVerifier:
    """Checks a command's signature, time window and nonce; raises EdgekitError saying what is wrong."""

    def __init__(self, cfg: SigningConfig, device_id: str, store=None):
        self.cfg, self.device_id = cfg, device_id
        self.store = store  # a NonceStore: nonces on disk, so a restart does not reopen the replay window
        self.keys = [
            load_public_key(k, f"mqtt.signing.ed25519_public_keys[{i}]") for i, k in enumerate(cfg.ed25519_public_keys)
        ]
        self.hmac_key = None
        if cfg.hmac_key_file:
            check_secret(cfg.hmac_key_file, "mqtt.signing.hmac_key_file")
            try:
                self.hmac_key = Path(cfg.hmac_key_file).expanduser().read_bytes().strip()
            except OSError as e:
                raise EdgekitError(
                    f"mqtt.signing.hmac_key_file: cannot read {cfg.hmac_key_file} ({e.strerror})",
                    "point it at a readable file holding the shared secret",
                ) from None
            if len(self.hmac_key) < 16:
                raise EdgekitError(
                    "mqtt.signing.hmac_key_file: the secret is shorter than 16 bytes", "use a longer random secret"
                )
        self.command_keys: dict[str, list[Ed25519PublicKey]] = {}  # keys trusted for one command only
        self._seen: dict[str, float] = {}  # nonce -> ts, forgotten once outside the window
        self._lock = threading.Lock()

    def trust(self, name: str, key: Ed25519PublicKey) -> None:
        """Also accept `key`'s signatures on command `name` (the model key signs model_update's steps)."""
        self.command_keys.setdefault(name, []).append(key)

    def how_to_sign(self, name: str) -> str:
        if self.keys or self.hmac_key or self.command_keys.get(name):
            return "sign it: edgekit fleet cmd DEVICE NAME --sign KEYFILE (a key whose public half is in mqtt.signing)"
        return (
            "this device trusts no key yet: put the public key `edgekit fleet keygen` prints in "
            "mqtt.signing.ed25519_public_keys (labs only: mqtt.signing.allow_unsigned: true)"
        )

    def check(self, name: str, body: dict, now: float | None = None, read_only: bool = False) -> None:
        """Raise unless `body` may run: signed, fresh, never seen; unsigned only under allow_unsigned, or for a
        read-only command under unsigned_read_only."""
        sig = body.get("sig")
        if sig is None:
            if self.cfg.allow_unsigned or (read_only and self.cfg.unsigned_read_only):
                return
            raise EdgekitError(f"command {name[:64]!r} is not signed", self.how_to_sign(name))
        if not isinstance(sig, str) or ":" not in sig:
            raise EdgekitError("'sig' must be 'ed25519:<base64>' or 'hmac-sha256:<base64>'")
        ts, nonce = body.get("ts"), body.get("nonce")
        if not isinstance(ts, (int, float)) or isinstance(ts, bool) or ts != ts:
            raise EdgekitError("signed command needs 'ts' (epoch seconds)")
        if not isinstance(nonce, str) or not 8 <= len(nonce) <= 128:
            raise EdgekitError("signed command needs a 'nonce' string of 8 to 128 characters")
        alg, _, value = sig.partition(":")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise EdgekitError("'sig' is not valid base64") from None
        data = signed_bytes(self.device_id, name, body)
        if alg == "ed25519":
            if not any(_ed25519_ok(k, raw, data) for k in self.keys + self.command_keys.get(name, [])):
                raise EdgekitError("bad signature: no configured Ed25519 key signed this command")
        elif alg == "hmac-sha256":
            if self.hmac_key is None or not hmac.compare_digest(
                raw, hmac.new(self.hmac_key, data, hashlib.sha256).digest()
            ):
                raise EdgekitError("bad signature: the HMAC does not match")
        else:
            raise EdgekitError(f"unknown signature algorithm {alg[:32]!r}", "use ed25519 or hmac-sha256")
        # only a valid signature reaches the replay checks, so nobody can fill the nonce memory
        now = time.time() if now is None else now
        if abs(now - ts) > self.cfg.window_s:
            raise EdgekitError(
                f"command timestamp is {now - ts:+.0f} s from the device's clock (window {self.cfg.window_s:g} s)",
                "check the clocks (NTP) or resend a fresh command",
            )
        if self.store is not None:
            if not self.store.remember(nonce, ts, now - 2 * self.cfg.window_s):
                raise EdgekitError("replayed command: this nonce was already used", "send a fresh command")
            return
        with self._lock:
            for n, t in list(self._seen.items()):
                if abs(now - t) > self.cfg.window_s:
                    del self._seen[n]
            if nonce in self._seen:
                raise EdgekitError("replayed command: this nonce was already used", "send a fresh command")
            self._seen[nonce] = ts


def _ed25519_ok(key: Ed25519PublicKey, sig: bytes, data: bytes) -> bool:
    try:
        key.verify(sig, data)
        return True
    except InvalidSignature:
        return False
