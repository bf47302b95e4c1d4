"""Import `tfjs_graph_converter` without the parts of `tensorflowjs` it never uses.

tensorflowjs 4.22 imports tf_keras, tensorflow_decision_forests, tensorflow_hub and its JAX converter at import time;
none is needed to read a graph model, and installing them drags in conflicting pins. Empty stand-ins are registered for
exactly those modules (and only while nothing real is installed under those names)."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

_STANDINS = ("tf_keras", "tensorflow_decision_forests", "tensorflow_hub", "tensorflowjs.converters.jax_conversion")


class _StandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        root = name.split(".")[0]
        if name in _STANDINS or (root in _STANDINS and root != "tensorflowjs"):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = _any_name  # `from x import y` must succeed
        module.__file__ = None  # tools that walk sys.modules (hypothesis) must see no source file
        return module

    def exec_module(self, module):
        pass


def _any_name(attr: str):
    if attr.startswith("__"):
        raise AttributeError(attr)
    return lambda *a, **k: None


def import_tfjs_graph_converter():
    missing = [m for m in _STANDINS[:3] if importlib.util.find_spec(m) is None]
    if missing or importlib.util.find_spec("jax") is None:
        finder = _StandIn()
        sys.meta_path.insert(0, finder)
    try:
        import tfjs_graph_converter.api as api
    except ImportError as e:
        from edge.errors import EdgekitError

        raise EdgekitError(
            f"TF.js conversion needs tfjs-graph-converter ({e})",
            "pip install 'edgekit[convert]' and `pip install --no-deps tensorflowjs==4.22.0 "
            "tfjs-graph-converter==1.6.3`",
        ) from None
    return api
