"""The accelerator registry, apart from the accelerators so each module can register itself without a cycle."""
from __future__ import annotations

from edge.registry import Registry

ACCELERATORS = Registry("accelerator", "set runtime.accelerator.type to one of: {known}")
