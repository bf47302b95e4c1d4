"""ONNX: needs onnx2tf, whose pins (tensorflow 2.19, numpy 1.26, GUI opencv) conflict with the converter extra. It is
used when importable (install it in its own environment); otherwise the error says so."""
from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

from edge.errors import EdgekitError


def load(source, path: Path):
    if importlib.util.find_spec("onnx2tf") is None:
        raise EdgekitError(
            f"{path}: ONNX sources need onnx2tf, which is not installed",
            "in a separate virtualenv: pip install onnx2tf==1.29.* onnx onnxruntime, then run `edgekit convert` there "
            "(its pins conflict with edgekit[convert]); or export the model to SavedModel/Keras yourself",
        )
    import onnx2tf

    from converters.sources import savedmodel

    out = Path(tempfile.mkdtemp(prefix="edgekit-onnx-"))
    # -cind is not needed: we only ask for the float SavedModel; INT8 is done by our own calibration.
    onnx2tf.convert(input_onnx_file_path=str(path), output_folder_path=str(out), non_verbose=True)
    return savedmodel.load(source, out)
