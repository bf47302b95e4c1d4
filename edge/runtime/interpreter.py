"""Which TFLite interpreter is installed: ai-edge-litert (preferred) or the older tflite-runtime (needs numpy<2)."""

from __future__ import annotations

from edge.errors import EdgekitError

try:  # the maintained LiteRT wheel
    from ai_edge_litert.interpreter import Interpreter, load_delegate

    BACKEND = "ai-edge-litert"
except ImportError:  # pragma: no cover - exercised only on boards without an ai-edge-litert wheel (armv7l)
    try:
        from tflite_runtime.interpreter import Interpreter, load_delegate

        BACKEND = "tflite-runtime"
    except ImportError:
        Interpreter = load_delegate = None
        BACKEND = None


def require_interpreter():
    if Interpreter is None:
        raise EdgekitError(
            "no TFLite interpreter is installed",
            "pip install ai-edge-litert (or, on armv7l, pip install 'edgekit[tflite-runtime]', which needs numpy<2)",
        )
    return Interpreter
