"""The converters live in the same distribution but need the `convert` extra (TensorFlow etc.)."""

import importlib.util

from edge.errors import EdgekitError


def require_converters() -> None:
    missing = [m for m in ("tensorflow", "ai_edge_quantizer") if importlib.util.find_spec(m) is None]
    if missing:
        raise EdgekitError(
            f"converting models needs {', '.join(missing)}, which this (device) install lacks",
            "on a workstation: pip install 'edgekit[convert]'",
        )
