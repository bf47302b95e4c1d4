"""Where edgekit keeps built models and state by default (overridable by EDGEKIT_MODELS / EDGEKIT_HOME or config)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def models_dir() -> Path:
    return Path(os.environ.get("EDGEKIT_MODELS") or platformdirs.user_cache_dir("edgekit") + "/models")


def state_dir() -> Path:
    """The device's own state (the in-process broker's credentials): $EDGEKIT_HOME, /var/lib/edgekit under systemd."""
    return Path(os.environ.get("EDGEKIT_HOME") or platformdirs.user_data_dir("edgekit"))


def shared_data_dir() -> Path:
    """The project's third-party test and evaluation data (EDGEKIT_SHARED_DATA, default ../shared/data beside the
    checkout): for the converters' calibration and gate and `edgekit faces eval`, never shipped."""
    env = os.environ.get("EDGEKIT_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
