"""Targets: what the INT8 model must satisfy and what is written next to it. One module per target."""
from __future__ import annotations

import importlib


def get_target(name: str):
    return importlib.import_module(f"converters.targets.{name}")
