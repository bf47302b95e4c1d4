"""Over-the-air model updates: an artifact (NAME.tflite + its card) arrives in chunks over MQTT or from an operator
URL; its sha256 and an Ed25519 signature over (name, model sha256, card sha256) are checked against the device's
configured public key; it is swapped in with os.replace, smoke-tested (loads, runs on sample frames, finite outputs,
latency bound), and the previous files are put back if any check fails. Only models already on the device can be
updated, and file names come from the device's own listing, never from the payload."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidSignature

from edge.errors import EdgekitError
from edge.fleet.config import ModelUpdateConfig
from edge.fleet.security import load_public_key
from edge.private import open_private, private_dir, write_private

MAX_TRANSFERS = 2  # open at once; a new begin closes the oldest (each holds an open file and a staging file)
CHUNK_BYTES = 32 * 1024  # raw bytes per chunk: base64 keeps a chunk under the default 64 KiB command limit
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def canonical_card(card: dict) -> bytes:
    return json.dumps(card, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def manifest(model: str, model_sha256: str, card: dict) -> bytes:
    """What the signature covers."""
    return f"edgekit-model\n{model}\n{model_sha256}\n{hashlib.sha256(canonical_card(card)).hexdigest()}".encode()


class _Transfer:
    def __init__(self, model: str, size: int, sha256: str, card: dict, signature: bytes, path: Path):
        self.model, self.size, self.sha256, self.card, self.signature, self.path = (
            model,
            size,
            sha256,
            card,
            signature,
            path,
        )
        self.received, self.next_index, self.started = 0, 0, time.time()
        self.touched = self.started  # the last chunk: an operator that vanished leaves an idle transfer
        self.file = open_private(path, "wb")


class ModelUpdater:
    what = "model_update"  # the command, and how its errors begin
    suffix = ".tflite"  # of its staging files

    def __init__(
        self,
        cfg: ModelUpdateConfig,
        on_outcome: Callable[[dict], None] | None = None,
        on_swapped: Callable[[str, Path], object] | None = None,
        live_frames: Callable[[], list[np.ndarray]] | None = None,
        accelerator=None,
    ):
        """From the running site: `on_swapped` takes the new model into the loop (raising rolls back), the latest
        camera frames (`live_frames`) join the smoke test's samples, and the smoke test runs on the site's
        accelerator (a Coral build needs its delegate)."""
        self.cfg = cfg
        self.key = load_public_key(cfg.public_key, "mqtt.model_update.public_key")
        self.on_outcome, self.on_swapped = on_outcome, on_swapped
        self.live_frames, self.accelerator = live_frames, accelerator
        self.transfers: dict[str, _Transfer] = {}
        self.lock = threading.Lock()

    @property
    def dir(self) -> Path:
        if self.cfg.models_dir:
            return Path(self.cfg.models_dir).expanduser()
        from edge.paths import models_dir

        return models_dir()

    @property
    def staging(self) -> Path:
        """Where transfers are written until committed (swept of files no transfer owns)."""
        return self.dir / ".incoming"

    def register(self, link) -> None:
        link.on_command(self.what, self.command)

    def expire(self) -> int:
        """Drop transfers idle for longer than transfer_timeout_s (an operator cut off mid-push) and staging files no
        transfer of this process owns (left by a crash or a restart). Called by begin and by the link's housekeeping."""
        now = time.time()
        with self.lock:
            idle = [t for t in self.transfers.values() if now - t.touched > self.cfg.transfer_timeout_s]
        for t in idle:
            self._drop(t)
        staging = self.staging
        with self.lock:  # held while sweeping: begin creates a staging file and registers it under the same lock
            live = list(self.transfers.values())
            owned = {t.path.name for t in live} | {t.path.with_suffix(".card.json").name for t in live}
            stale = [p for p in staging.glob("*") if p.name not in owned] if staging.is_dir() else []
            for p in stale:
                p.unlink(missing_ok=True)
        return len(idle) + len(stale)

    def installed(self) -> dict[str, Path]:
        return {p.name[: -len(".card.json")]: p for p in self.dir.glob("*.card.json")}

    # ---- the command ----
    def command(self, body: dict) -> dict:
        """Update a model: step begin (model, size, sha256, card, signature[, url]) / chunk (transfer, index, data) /
        commit / abort."""
        step = body.get("step")
        if step == "begin":
            return self.begin(body)
        transfer = self._transfer(body.get("transfer"))
        if step == "chunk":
            return self.chunk(transfer, body)
        if step == "commit":
            return self.commit(transfer)
        if step == "abort":
            self._drop(transfer)
            return {"aborted": True}
        raise EdgekitError(f"{self.what}: unknown step {str(step)[:32]!r}", "use begin, chunk, commit or abort")

    def _transfer(self, tid) -> _Transfer:
        with self.lock:
            t = self.transfers.get(tid) if isinstance(tid, str) else None
        if t is None:
            raise EdgekitError(f"{self.what}: no such transfer", "start again with step 'begin'")
        return t

    def begin(self, body: dict) -> dict:
        """Check what is announced (and its signature) before anything is downloaded, then open a transfer."""
        name, size, sha, meta, signature = self.announced(body)
        return self.open(name, size, sha, meta, signature, body.get("url"))

    def announced(self, body: dict) -> tuple[str, int, str, dict, bytes]:
        """A begin's model, size, sha256, card and signature, checked and verified (EdgekitError says what is wrong)."""
        model, size, sha, card, sig = (
            body.get("model"),
            body.get("size"),
            body.get("sha256"),
            body.get("card"),
            body.get("signature"),
        )
        installed = self.installed()
        if not isinstance(model, str) or model not in installed:
            raise EdgekitError(
                f"model_update: {str(model)[:64]!r} is not a model on this device", f"update one of {sorted(installed)}"
            )
        if not isinstance(size, int) or not 0 < size <= self.cfg.max_bytes:
            raise EdgekitError(
                f"model_update: size must be 1..{self.cfg.max_bytes} bytes",
                "raise mqtt.model_update.max_bytes for bigger models",
            )
        if not isinstance(sha, str) or not HEX64.match(sha):
            raise EdgekitError("model_update: sha256 must be 64 lower-case hex digits")
        if (
            not isinstance(card, dict)
            or card.get("name") != model
            or card.get("tflite") != f"{model}.tflite"
            or card.get("sha256") != sha
        ):
            raise EdgekitError(
                f"model_update: the card must be named {model!r}, name {model}.tflite and carry the model's sha256"
            )
        try:
            signature = base64.b64decode(sig, validate=True) if isinstance(sig, str) else b""
        except (binascii.Error, ValueError):
            signature = b""
        if not signature:
            raise EdgekitError(
                "model_update: unsigned (no valid base64 'signature')", "push it with `edgekit fleet push-model --key`"
            )
        self._verify(model, sha, card, signature)  # refuse before anything is downloaded
        return model, size, sha, card, signature

    def open(self, name: str, size: int, sha: str, meta: dict, signature: bytes, url=None) -> dict:
        """A transfer for what `announced` checked: chunks follow (or the file is fetched from `url` and committed)."""
        self.expire()  # idle transfers and orphaned staging files go first
        staging = private_dir(self.staging)
        with self.lock:
            stale = [v for v in self.transfers.values() if time.time() - v.started > 3600]
            over = max(0, len(self.transfers) - MAX_TRANSFERS + 1)
            stale += sorted(self.transfers.values(), key=lambda v: v.started)[:over]
        for old in dict.fromkeys(stale):
            self._drop(old)
        tid = uuid.uuid4().hex
        with self.lock:
            t = _Transfer(name, size, sha, meta, signature, staging / f"{tid}{self.suffix}")
            self.transfers[tid] = t
        if url is not None:
            self._fetch(t, url)
            return self.commit(t)
        return {"transfer": tid, "chunk_bytes": CHUNK_BYTES}

    def _fetch(self, t: _Transfer, url) -> None:
        import urllib.request

        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            self._drop(t)
            raise EdgekitError("model_update: url must be http(s)://")
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                while chunk := r.read(1 << 20):
                    self._write(t, chunk)
        except OSError as e:
            self._drop(t)
            raise EdgekitError(
                f"model_update: cannot fetch the model ({e})", "check the URL is reachable from the device"
            ) from None

    def _write(self, t: _Transfer, data: bytes) -> None:
        if t.received + len(data) > t.size:
            self._drop(t)
            raise EdgekitError(
                f"{self.what}: more than the announced {t.size} bytes", "start again with the right size"
            )
        t.file.write(data)
        t.received += len(data)

    def chunk(self, t: _Transfer, body: dict) -> dict:
        index, data = body.get("index"), body.get("data")
        if index != t.next_index:
            raise EdgekitError(
                f"{self.what}: expected chunk {t.next_index}, got {str(index)[:16]}", "resend from that chunk"
            )
        try:
            raw = base64.b64decode(data, validate=True) if isinstance(data, str) else None
        except (binascii.Error, ValueError):
            raw = None
        if not raw:
            raise EdgekitError(f"{self.what}: chunk 'data' must be non-empty base64")
        self._write(t, raw)
        t.next_index += 1
        t.touched = time.time()
        return {"received": t.received, "size": t.size}

    def _verify(self, model: str, sha: str, card: dict, signature: bytes) -> None:
        try:
            self.key.verify(signature, manifest(model, sha, card))
        except InvalidSignature:
            raise EdgekitError(
                "model_update: bad signature (not signed by the key in mqtt.model_update.public_key)",
                "sign it with the matching private key",
            ) from None

    def _drop(self, t: _Transfer) -> None:
        with self.lock:
            self.transfers = {k: v for k, v in self.transfers.items() if v is not t}
        t.file.close()
        t.path.unlink(missing_ok=True)

    # ---- commit: verify, swap, smoke test, roll back ----
    def commit(self, t: _Transfer) -> dict:
        t.file.close()
        try:
            if t.received != t.size:
                raise EdgekitError(f"{self.what}: received {t.received} of {t.size} bytes", "resend the missing chunks")
            h = hashlib.sha256()
            with open(t.path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            if h.hexdigest() != t.sha256:
                raise EdgekitError(
                    f"{self.what}: sha256 mismatch: the file was corrupted or tampered with", "push it again"
                )
            self._verify(t.model, t.sha256, t.card, t.signature)
        except EdgekitError as e:
            self._drop(t)
            return self._outcome(t.model, False, str(e), t.sha256)
        try:
            return self._swap(t)
        finally:  # refused or not, the transfer is over (a refusal raises from _outcome)
            self._drop(t)

    def _swap(self, t: _Transfer) -> dict:
        card_path = self.installed()[t.model]
        model_path = card_path.with_name(f"{t.model}.tflite")
        from edge.card import load_card

        slot = load_card(card_path, verify=False)  # the running model's card: what the new one must fit
        backup = self.dir / ".rollback"
        private_dir(backup)
        saved = [(p, backup / p.name) for p in (model_path, card_path) if p.exists()]
        for live, copy in saved:
            shutil.copy2(live, copy)
        staged_card = t.path.with_suffix(".card.json")
        write_private(staged_card, (json.dumps(t.card, indent=2) + "\n").encode())
        os.replace(t.path, model_path)  # each file swaps atomically; the card's sha256 ties the two together
        os.replace(staged_card, card_path)
        from edge.runtime.lastgood import LastGood

        last_good = LastGood(self.dir)
        try:
            latency = self.smoke_test(card_path, slot)
            # the replaced files stay as the last good build until the loop has run on the new one: kept before the
            # loop takes it in, so a failure at its very first frame can already roll back
            last_good.keep(t.model, [copy for _, copy in saved], f"model update {t.sha256[:12]}")
            if self.on_swapped is not None:
                self.on_swapped(t.model, card_path)
        except Exception as e:  # any failure, expected or not, puts the old files back
            last_good.release(t.model)
            for live, copy in saved:  # the loop still runs the old model: taking the new one in is the last step
                os.replace(copy, live)
            reason = str(e) if isinstance(e, EdgekitError) else f"{e.__class__.__name__}: {e}"
            return self._outcome(
                t.model, False, f"smoke test failed, rolled back to the previous model: {reason}", t.sha256
            )
        for _, copy in saved:
            copy.unlink(missing_ok=True)
        return self._outcome(
            t.model, True, f"installed; smoke test {latency:.1f} ms per frame", t.sha256, latency_ms=round(latency, 2)
        )

    def smoke_test(self, card_path: Path, slot=None) -> float:
        """Load the model, run it on the sample frames; outputs must be finite, decode with the card's decoder (shapes,
        anchors, labels agree), fit the slot it replaces (`slot`: the running model's card; same task, decoder, labels
        and real output shapes) and each run stay within the latency bound. Returns the slowest run in ms."""
        from edge.card import slot_mismatch
        from edge.runtime import CardModel

        model = CardModel(card_path, self.accelerator)
        worst = 0.0
        for frame in self.sample_frames():
            x, transform = model.prepare(frame)  # CardModel.infer's three steps, so that `run` alone is timed
            t0 = time.perf_counter()
            outputs = model.run(x)
            ms = (time.perf_counter() - t0) * 1000
            worst = max(worst, ms)
            if not outputs or not all(np.isfinite(o).all() for o in outputs):
                raise EdgekitError("the model's outputs are empty or not finite on a sample frame")
            misfit = slot_mismatch(model.card, slot, [o.shape for o in outputs]) if slot is not None else None
            if misfit:
                raise EdgekitError(f"it does not fit the slot of {slot.name}: {misfit}")
            try:
                model.decode(outputs, transform)
            except (EdgekitError, ValueError, IndexError) as e:
                raise EdgekitError(
                    f"its outputs do not decode with its card's decoder '{model.card.decoder.name}' ({e})"
                ) from None
            if ms > self.cfg.max_latency_ms:
                raise EdgekitError(
                    f"one run took {ms:.0f} ms, over mqtt.model_update.max_latency_ms ({self.cfg.max_latency_ms:g})"
                )
        return worst

    def sample_frames(self) -> list[np.ndarray]:
        import cv2

        paths = [Path(p).expanduser() for p in self.cfg.sample_frames] or sorted(
            (self.dir / "samples").glob("*.[jp][pn]g")
        )
        frames = [f for f in (cv2.imread(str(p)) for p in paths) if f is not None]
        if self.live_frames is not None:
            frames += self.live_frames()
        if not frames:  # nothing stored: a textured synthetic frame still exercises load, shapes and finiteness
            rng = np.random.default_rng(0)
            frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)]
        return frames

    def _outcome(self, model: str, ok: bool, message: str, sha: str, **extra) -> dict:
        outcome = {"model": model, "ok": ok, "message": message, "sha256": sha, "time": time.time(), **extra}
        if self.on_outcome:
            self.on_outcome(outcome)
        if not ok:
            raise EdgekitError(message)
        return outcome
