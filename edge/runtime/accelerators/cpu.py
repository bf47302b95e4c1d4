"""Plain CPU: LiteRT's built-in XNNPACK delegate, applied by default, with a thread count."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.runtime.accelerators.base import ACCELERATORS, Accelerator


class CpuConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["cpu"] = "cpu"
    threads: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1, le=64)


@ACCELERATORS.register("cpu")
class CpuAccelerator(Accelerator):
    name = "cpu"
    Config = CpuConfig
