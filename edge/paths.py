"""Where edgekit keeps built models and state by default (overridable by EDGEKIT_MODELS / EDGEKIT_HOME or config)."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def models_dir() -> Path:
    return Path(os.environ.get("EDGEKIT_MODELS") or platformdirs.user_cache_dir("edgekit") + "/models")


def state_dir() -> Path:
    return Path(os.environ.get("EDGEKIT_HOME") or platformdirs.user_data_dir("edgekit"))
