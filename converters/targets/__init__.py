"""Targets: what the INT8 model must satisfy and what is written next to it. One module per target (IO_DTYPE,
finalize(...), optionally problems(...)), imported when first used."""

from __future__ import annotations

from edge.registry import Registry

TARGETS = Registry("target", "pass --target one of: {known}")
for _name in ("cpu", "coral", "jetson"):
    TARGETS.lazy(_name, f"converters.targets.{_name}")


def get_target(name: str):
    return TARGETS.get(name)
