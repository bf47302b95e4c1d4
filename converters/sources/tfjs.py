"""TF.js graph model (model.json + weight shards): choose the outputs to keep with source.outputs."""

from __future__ import annotations

import json
from pathlib import Path

from converters.sources.tf_graph import from_graph_def
from converters.tfjs_compat import import_tfjs_graph_converter
from edge.errors import EdgekitError


def load(source, path: Path):
    try:
        spec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EdgekitError(
            f"{path}: not a TF.js model.json ({e})", "pass the model.json of a TF.js graph model"
        ) from None
    if spec.get("format") != "graph-model":
        raise EdgekitError(
            f"{path}: format is {spec.get('format')!r}, not 'graph-model'",
            "convert layers models with the keras source instead",
        )
    for group in spec.get("weightsManifest", []):
        for shard in group.get("paths", []):
            if not (path.parent / shard).is_file():
                raise EdgekitError(
                    f"{path}: weight shard {shard} is missing next to it",
                    "keep model.json and its .bin shards in one folder",
                )
    api = import_tfjs_graph_converter()
    try:
        graph = api.load_graph_model(str(path), compat_mode=api.CompatMode.TFLITE)
    except Exception as e:  # the converter raises assorted errors on bad shards
        raise EdgekitError(
            f"{path}: could not be read ({type(e).__name__}: {str(e).splitlines()[0][:160]})",
            "re-download the model.json and shards",
        ) from None
    signature = spec.get("signature", {})
    inputs = source.inputs or [v["name"].split(":")[0] for v in signature.get("inputs", {}).values()]
    outputs = list(source.outputs.values()) or [v["name"] for v in signature.get("outputs", {}).values()]
    return from_graph_def(graph.as_graph_def(), inputs, outputs, str(path), nchw_to_nhwc=source.nchw_to_nhwc)
