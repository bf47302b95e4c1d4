"""PyTorch -> ONNX (torch.onnx.export, in the torch engine's own virtualenv) -> the ONNX path (onnx2tf). Sources:
TorchScript, an ExportedProgram, or a checkpoint plus the class that builds it (`source.module`, from a registry
package named in `source.engine_packages`). The input shape comes from the card (`source.input_shape`: C, H, W)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from converters import engine_env
from converters.sources import onnx
from edge.errors import EdgekitError

SCRIPT = Path(__file__).resolve().parents[1] / "engines" / "torch_to_onnx.py"


def load(source, path: Path):
    if len(source.input_shape) != 3:
        raise EdgekitError(
            f"pytorch source {path}: the card needs source.input_shape [C, H, W]",
            "add e.g. input_shape: [3, 48, 48] under source",
        )
    if source.engine_packages:
        engine_env.add_packages("torch", source.engine_packages)
    work = Path(tempfile.mkdtemp(prefix="edgekit-torch-"))
    try:
        out = work / f"{Path(str(path)).stem or 'model'}.onnx"
        args = [str(SCRIPT), str(path), str(out), ",".join(map(str, source.input_shape))]
        if source.module:
            args += ["--module", source.module, "--kwargs", json.dumps(source.module_kwargs)]
        for name in source.engine_stubs:
            args += ["--stub", name]
        for name, target in source.module_aliases.items():
            args += ["--alias", f"{name}={target}"]
        if source.normalize_boxes:
            args.append("--normalize-boxes")
        if source.flat_yolov5_detect:
            args.append("--flat-yolov5-detect")
        r = engine_env.run("torch", args, f"pytorch source {path}")
        names = json.loads(r.stdout.strip().splitlines()[-1])["outputs"]
        mapped = source.model_copy(
            update={"outputs": {k: v for k, v in source.outputs.items()} or {n: n for n in names}}
        )
        fm = onnx.load(mapped, out)
        fm.notes["source_engine"] = (
            f"torch.onnx.export ({engine_env.ENGINES['torch'][0]}) + {fm.notes['source_engine']}"
        )
        return fm
    finally:
        shutil.rmtree(work, ignore_errors=True)
