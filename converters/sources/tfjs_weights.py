"""TF.js weights-only manifest (`*-weights_manifest.json` + shards, no graph): the weights are read and dequantised
here, and the network is rebuilt from the architecture the card names (`source.architecture`, see
converters/sources/architectures.py). face-api.js ships its nets this way: the graph lives in its JavaScript."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.errors import EdgekitError

_DTYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


def read_weights(manifest: Path) -> dict[str, np.ndarray]:
    """name -> float32 (or int32) array, dequantised as TF.js does: q * scale + min (uint8/uint16), or fp16."""
    try:
        groups = json.loads(Path(manifest).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EdgekitError(
            f"{manifest}: not a TF.js weights manifest ({e})", "pass the *-weights_manifest.json file"
        ) from None
    if not isinstance(groups, list):
        raise EdgekitError(
            f"{manifest}: not a weights-only manifest (a JSON list of groups)",
            "a model.json with a graph uses source.format: tfjs",
        )
    out: dict[str, np.ndarray] = {}
    for group in groups:
        data = b""
        for shard in group["paths"]:
            p = Path(manifest).parent / shard
            if not p.is_file():
                raise EdgekitError(
                    f"{manifest}: weight shard {shard} is missing next to it",
                    "keep the manifest and its shards in one folder",
                )
            data += p.read_bytes()

        def nbytes(w):
            q = w.get("quantization")
            return int(np.prod(w["shape"])) * np.dtype(_DTYPES[q["dtype"] if q else w["dtype"]]).itemsize

        described = sum(nbytes(w) for w in group["weights"])
        if described != len(data):
            raise EdgekitError(
                f"{manifest}: shards hold {len(data)} bytes, the manifest describes {described}",
                "re-fetch the package: the shards do not match the manifest",
            )
        offset = 0
        for w in group["weights"]:
            shape, q = [int(d) for d in w["shape"]], w.get("quantization")
            dtype = np.dtype(_DTYPES[q["dtype"] if q else w["dtype"]])
            n = int(np.prod(shape)) if shape else 1
            raw = np.frombuffer(data, dtype, n, offset)
            offset += n * dtype.itemsize
            if q and q["dtype"] in ("uint8", "uint16"):
                raw = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
            out[w["name"]] = raw.astype(np.int32 if w["dtype"] == "int32" else np.float32).reshape(shape)
    return out


def load(source, path: Path):
    from converters.sources.architectures import build_graph_def
    from converters.sources.tf_graph import from_graph_def

    if not source.architecture:
        raise EdgekitError(
            f"card for {path.name}: a weights-only TF.js manifest needs source.architecture",
            "name the network the weights belong to (see converters/sources/architectures.py)",
        )
    graph_def, input_name, output_name = build_graph_def(source.architecture, read_weights(path), str(path))
    return from_graph_def(graph_def, [input_name], [output_name], str(path))
