"""Google Coral Edge TPU through its TFLite delegate plug-in (libedgetpu.so.1).

Tested here up to the shared-library boundary only (tests build a stub plug-in): no Edge TPU or libedgetpu exists on the
build machine. The model must be compiled with `edgetpu_compiler` (`edgekit convert --target coral`).
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.card import sha256_file
from edge.errors import EdgekitError
from edge.runtime.accelerators.base import ACCELERATORS, Accelerator
from edge.runtime.interpreter import load_delegate

log = logging.getLogger(__name__)


class CoralConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["coral"] = "coral"
    device: str = Field("usb", pattern=r"^(usb|pci)(:\d+)?$", description="usb, usb:0, pci, pci:0")
    library: str = "libedgetpu.so.1"
    threads: int = Field(1, ge=1, le=64)  # for the ops that stay on the CPU


@ACCELERATORS.register("coral")
class CoralAccelerator(Accelerator):
    name = "coral"
    Config = CoralConfig

    def delegates(self) -> list:
        return [self.delegate()]

    def model_path(self, card) -> Path:
        """The edgetpu_compiler output the card names (NAME_edgetpu.tflite): the plain INT8 file would leave every op
        on the CPU. A card without one still runs, on the CPU, and says so."""
        compiled = card.compiled.get("edgetpu")
        if not compiled:
            log.warning(
                "model %s: not compiled for the Edge TPU (no compiled.edgetpu in its card): every op runs on "
                "the CPU; convert it with edgetpu_compiler on PATH (`edgekit convert --target coral`)",
                card.name,
            )
            return card.path
        path = card.path.parent / compiled["tflite"]
        if not path.is_file() or sha256_file(path) != compiled["sha256"]:
            raise EdgekitError(
                f"model {path}: missing or its sha256 differs from its card's compiled.edgetpu",
                f"re-convert it with `edgekit convert --target coral` (card {card.name})",
            )
        return path

    def delegate(self):
        try:
            # Probe with ctypes first: a failed load_delegate leaves a half-built Delegate whose __del__ raises.
            ctypes.CDLL(self.config.library)
            return load_delegate(self.config.library, {"device": self.config.device})
        except (OSError, ValueError, RuntimeError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise EdgekitError(
                f"Edge TPU delegate {self.config.library} could not be loaded for device '{self.config.device}' "
                f"({reason})",
                "install libedgetpu (package libedgetpu1-std from Coral's apt repository) and plug in the Coral, "
                "or fall back with `runtime: {accelerator: {type: cpu}}` and a cpu-target model",
            ) from None
