"""Accelerators, one small module each, chosen by name from config (`runtime.accelerator.type`). Each module
registers its class in ACCELERATORS; the class names its pydantic config as `Config`."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from edge.runtime.accelerators.base import ACCELERATORS
from edge.runtime.accelerators.coral import CoralConfig
from edge.runtime.accelerators.cpu import CpuConfig

# The config union pydantic validates `runtime.accelerator` with, discriminated by `type`: built from the registry.
# (Union over a tuple of classes: the `X | Y` spelling cannot take a computed list, hence the noqa)
AcceleratorConfig = Annotated[
    Union[tuple(ACCELERATORS.get(n).Config for n in ACCELERATORS.names())],  # noqa: UP007
    Field(discriminator="type"),
]

__all__ = ["ACCELERATORS", "AcceleratorConfig", "CoralConfig", "CpuConfig", "config_for", "make_accelerator"]


def make_accelerator(config):
    return ACCELERATORS.get(config.type)(config)


def config_for(name: str, **fields):
    """The config of the accelerator named `name`, with `fields` set (e.g. threads)."""
    return ACCELERATORS.get(name).Config(type=name, **fields)
