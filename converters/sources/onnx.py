"""ONNX -> float TFLite with onnx2tf, run in a virtualenv of its own (converters/engine_env.py: its pins, tensorflow
2.19, numpy 1.26, GUI opencv, fight the convert extra). onnx2tf lays the input out NHWC and keeps PReLU as one op;
the float .tflite then takes the same road as any float .tflite source (ai-edge-quantizer INT8, gate, card).
Chosen by measurement over its SavedModel (TF's INT8 converter made a graph XNNPACK refused) and over litert-torch
for PyTorch sources (README, "Converting from PyTorch and ONNX")."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from converters import engine_env
from converters.sources import tflite
from edge.errors import EdgekitError

# onnx2tf reads a sample batch from this file in its working directory, and downloads one when it is missing. It is
# only its own smoke input (edgekit calibrates with real images afterwards), so a flat grey batch is written there.
SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def onnx_outputs(path: Path) -> list[str]:
    import onnx

    try:
        return [o.name for o in onnx.load(str(path), load_external_data=False).graph.output]
    except Exception as e:  # onnx raises DecodeError and friends on garbage
        raise EdgekitError(f"{path}: not a readable ONNX model ({type(e).__name__})", "re-export it") from None


def signature_outputs(tfl: Path) -> dict[str, str]:
    """onnx2tf's serving signature: ONNX output name -> tensor name in the .tflite."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(tfl))
    sig = next(iter(it._get_full_signature_list().values()))  # the only way LiteRT exposes signature tensor indices
    name_of = {d["index"]: d["name"] for d in it.get_output_details()}
    return {k: name_of[i] for k, i in sig["outputs"].items()}


def to_tflite(path: Path, work: Path) -> Path:
    np.save(work / SAMPLE, np.full((20, 128, 128, 3), 0.5, np.float32))
    engine_env.run(
        "onnx2tf", ["onnx2tf", "-i", str(path.resolve()), "-o", str(work / "tf"), "-n"], f"ONNX source {path}", cwd=work
    )
    out = work / "tf" / f"{path.stem}_float32.tflite"
    if not out.is_file():
        raise EdgekitError(f"ONNX source {path}: onnx2tf wrote no {out.name}", "rerun with EDGEKIT_ENGINE_LOG=1")
    return out


def load(source, path: Path):
    order = onnx_outputs(path)
    work = Path(tempfile.mkdtemp(prefix="edgekit-onnx-"))
    try:
        tfl = to_tflite(path, work)
        by_onnx = signature_outputs(tfl)
        wanted = source.outputs or {n: n for n in order}
        missing = [v for v in wanted.values() if v not in by_onnx]
        if missing:
            raise EdgekitError(f"{path}: output(s) {missing} not in the model (it has {order})", "fix source.outputs")
        mapped = source.model_copy(update={"outputs": {k: by_onnx[v] for k, v in wanted.items()}})
        fm = tflite.load(mapped, tfl)
        fm.input_layout = "NHWC"
        fm.notes["source_engine"] = "onnx2tf " + engine_env.ENGINES["onnx2tf"][0].split("==")[1]
        return fm
    finally:
        shutil.rmtree(work, ignore_errors=True)
