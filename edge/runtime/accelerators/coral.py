"""Google Coral Edge TPU through its TFLite delegate plug-in (libedgetpu.so.1).

Tested here up to the shared-library boundary only (tests build a stub plug-in): no Edge TPU or libedgetpu exists on the
build machine. The model must be compiled with `edgetpu_compiler` (`edgekit convert --target coral`).
"""
from __future__ import annotations

import ctypes
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.errors import EdgekitError
from edge.runtime.accelerators.base import ACCELERATORS, Accelerator
from edge.runtime.interpreter import load_delegate


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

    def delegate(self):
        try:
            # Probe with ctypes first: a failed load_delegate leaves a half-built Delegate whose __del__ raises.
            ctypes.CDLL(self.config.library)
            return load_delegate(self.config.library, {"device": self.config.device})
        except (OSError, ValueError, RuntimeError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise EdgekitError(
                f"Edge TPU delegate {self.config.library} could not be loaded for device '{self.config.device}' ({reason})",
                "install libedgetpu (package libedgetpu1-std from Coral's apt repository) and plug in the Coral, "
                "or fall back with `runtime: {accelerator: {type: cpu}}` and a cpu-target model",
            ) from None
