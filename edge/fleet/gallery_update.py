"""Fleet-wide galleries: a gallery export (`edgekit faces export`) pushed to a doorbell in chunks, through the model
updates' transfer (edge.fleet.model_update: the same begin/chunk/commit steps, size and sha256 checks, idle expiry).
The begin names the embedder that made the export and carries an Ed25519 signature over (export sha256, embedder);
the device refuses an export of another embedder before anything is sent, and on commit replaces its gallery in one
transaction only after the file's sha256, the signature and every vector are checked: a bad push leaves the old one."""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from edge.errors import EdgekitError
from edge.faces.gallery import EmbedderTag, Gallery
from edge.fleet.config import GalleryUpdateConfig
from edge.fleet.model_update import HEX64, ModelUpdater
from edge.fleet.security import load_public_key


def gallery_manifest(sha256: str, embedder: dict) -> bytes:
    """What a gallery push's signature covers: the export's bytes and the embedder it claims made them."""
    return f"edgekit-gallery\n{sha256}\n{embedder['model']}\n{embedder['weights']}\n{int(embedder['dim'])}".encode()


class GalleryUpdater(ModelUpdater):
    what = "gallery_update"
    suffix = ".json"

    def __init__(
        self,
        cfg: GalleryUpdateConfig,
        gallery: Path,
        embedder: Callable[[], EmbedderTag],
        on_outcome: Callable[[dict], None] | None = None,
    ):
        """`embedder`: the running embedder's tag (asked at each push: a model update may have changed the build)."""
        self.cfg, self.gallery, self.embedder, self.on_outcome = cfg, Path(gallery), embedder, on_outcome
        self.key = load_public_key(cfg.public_key, "mqtt.gallery_update.public_key") if cfg.public_key else None
        self.transfers, self.lock = {}, threading.Lock()

    @property
    def dir(self) -> Path:
        return self.gallery.parent

    @property
    def staging(self) -> Path:
        return self.dir / ".incoming-gallery"

    def begin(self, body: dict) -> dict:
        """As a model's, and a refusal is this door's outcome too (the fleet page shows why a door said no)."""
        try:
            return super().begin(body)
        except EdgekitError as e:
            sha = body.get("sha256")
            return self._outcome("gallery", False, str(e), sha if isinstance(sha, str) else "")

    def announced(self, body: dict) -> tuple[str, int, str, dict, bytes]:
        """{size, sha256, embedder: {model, weights, dim}, signature}: refused before any chunk when the embedder is
        not this device's, the signature is missing (unless allow_unsigned) or does not verify."""
        size, sha, emb, sig = body.get("size"), body.get("sha256"), body.get("embedder"), body.get("signature")
        if body.get("url") is not None:  # a model may be fetched from an operator's server; a gallery is not
            raise EdgekitError(
                "gallery_update: no 'url': a gallery comes in chunks", "push it with `fleet push-gallery`"
            )
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= self.cfg.max_bytes:
            raise EdgekitError(
                f"gallery_update: size must be 1..{self.cfg.max_bytes} bytes",
                "raise mqtt.gallery_update.max_bytes for bigger galleries",
            )
        if not isinstance(sha, str) or not HEX64.match(sha):
            raise EdgekitError("gallery_update: sha256 must be 64 lower-case hex digits")
        if not (
            isinstance(emb, dict)
            and isinstance(emb.get("model"), str)
            and isinstance(emb.get("weights"), str)
            and isinstance(emb.get("dim"), int)
        ):
            raise EdgekitError("gallery_update: 'embedder' must be {model, weights, dim}")
        mine = self.embedder()
        theirs = EmbedderTag(emb["model"][:64], emb["weights"][:64], emb["dim"])
        if not mine.accepts(theirs.model, theirs.weights, theirs.dim):
            raise EdgekitError(
                f"gallery_update: the gallery was enrolled with {theirs.describe()}; this device embeds with "
                f"{mine.describe()}, so everyone would be a stranger",
                "push an export enrolled with this device's embedder, or update its embedder first",
            )
        try:
            signature = base64.b64decode(sig, validate=True) if isinstance(sig, str) else b""
        except (binascii.Error, ValueError):
            signature = b""
        meta = {"model": theirs.model, "weights": theirs.weights, "dim": theirs.dim}
        self._verify("gallery", sha, meta, signature)
        return "gallery", size, sha, meta, signature

    def _verify(self, name: str, sha: str, meta: dict, signature: bytes) -> None:
        if not signature:
            if self.cfg.allow_unsigned:
                return
            raise EdgekitError(
                "gallery_update: unsigned (no valid base64 'signature')",
                "push it with `edgekit fleet push-gallery --key` (labs only: mqtt.gallery_update.allow_unsigned)",
            )
        if self.key is None:
            raise EdgekitError(
                "gallery_update: this device trusts no gallery key",
                "put the public key `edgekit fleet keygen` printed in mqtt.gallery_update.public_key",
            )
        try:
            self.key.verify(signature, gallery_manifest(sha, meta))
        except InvalidSignature:
            raise EdgekitError(
                "gallery_update: bad signature (not signed by the key in mqtt.gallery_update.public_key)",
                "sign it with the matching private key",
            ) from None

    def _swap(self, t) -> dict:
        """Every vector checked and the gallery replaced in one transaction (or left as it was)."""
        try:
            with Gallery(self.gallery) as g:
                result = g.replace(t.path, self.embedder())
        except EdgekitError as e:
            return self._outcome("gallery", False, f"refused, the gallery is unchanged: {e}", t.sha256)
        n = result["identities"]
        return self._outcome("gallery", True, f"accepted {n} identit{'y' if n == 1 else 'ies'}", t.sha256, **result)
