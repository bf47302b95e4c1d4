"""Accelerators, one small module each, chosen by name from config (`runtime.accelerator.type`)."""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from edge.runtime.accelerators.coral import CoralAccelerator, CoralConfig
from edge.runtime.accelerators.cpu import CpuAccelerator, CpuConfig

AcceleratorConfig = Annotated[Union[CpuConfig, CoralConfig], Field(discriminator="type")]

_REGISTRY = {"cpu": CpuAccelerator, "coral": CoralAccelerator}


def make_accelerator(config: CpuConfig | CoralConfig):
    return _REGISTRY[config.type](config)


def config_for(name: str, **fields) -> CpuConfig | CoralConfig:
    from edge.errors import EdgekitError

    configs = {"cpu": CpuConfig, "coral": CoralConfig}
    if name not in configs:
        raise EdgekitError(f"accelerator '{name}' is unknown", f"use one of: {', '.join(configs)}")
    return configs[name](type=name, **fields)
