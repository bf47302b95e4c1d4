"""NVIDIA Jetson: the INT8 TFLite (runs on the Jetson's CPU via LiteRT) plus, for TensorRT on its GPU, an ONNX export of
the float model, a TensorRT calibration cache computed from the same real calibration images, and a build script.

Not run here (no GPU, no TensorRT on the build machine): `build_trt.sh` itself. Written and checked here: the ONNX file
(runs in onnxruntime and is compared with the float TFLite), the cache (one scale per ONNX tensor), the script."""
from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np

from edge.errors import EdgekitError

IO_DTYPE = "int8"
CACHE_HEADER = "TRT-8601-MinMaxCalibration"  # TensorRT's text cache; scale = amax / 127, float32 big-endian hex


def export_onnx(float_tflite: bytes, path: Path) -> None:
    try:
        import tf2onnx
    except ImportError:
        raise EdgekitError("jetson target: ONNX export needs tf2onnx", "pip install 'edgekit[convert]' (it includes tf2onnx, onnx, onnxruntime)") from None
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "float.tflite"
        src.write_bytes(float_tflite)
        tf2onnx.convert.from_tflite(str(src), opset=17, output_path=str(path))


def calibration_cache(onnx_path: Path, calib: list[np.ndarray]) -> tuple[str, dict]:
    """Max |activation| of every tensor in the ONNX graph over the calibration set."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(onnx_path))
    graph_outputs = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for out in node.output:
            if out and out not in graph_outputs:
                model.graph.output.append(onnx.helper.make_empty_tensor_value_info(out))
                graph_outputs.add(out)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    names = [o.name for o in sess.get_outputs()]
    amax = {inp.name: 0.0}
    for x in calib:
        x = x.astype(np.float32)
        amax[inp.name] = max(amax[inp.name], float(np.abs(x).max()))
        for n, y in zip(names, sess.run(names, {inp.name: x})):
            if isinstance(y, np.ndarray) and y.dtype.kind == "f" and y.size:
                amax[n] = max(amax.get(n, 0.0), float(np.abs(y).max()))
    lines = [CACHE_HEADER]
    for n, a in amax.items():
        scale = max(a, 1e-8) / 127.0
        lines.append(f"{n}: {struct.pack('>f', scale).hex()}")
    return "\n".join(lines) + "\n", {"tensors": len(amax), "input": inp.name, "input_shape": list(calib[0].shape)}


def finalize(int8_path: Path, float_model, calib, out_dir: Path, name: str) -> dict:
    onnx_path = out_dir / f"{name}.onnx"
    export_onnx(float_model.tflite, onnx_path)
    cache, info = calibration_cache(onnx_path, calib)
    (out_dir / f"{name}.calib.cache").write_text(cache)
    shape = "x".join(str(d) for d in info["input_shape"])
    script = out_dir / f"build_trt_{name}.sh"
    script.write_text(
        "#!/bin/sh\n# Build a TensorRT INT8 engine on the Jetson (JetPack's trtexec). Not run on the build machine.\n"
        "set -e\ncd \"$(dirname \"$0\")\"\n"
        f"TRTEXEC=${{TRTEXEC:-/usr/src/tensorrt/bin/trtexec}}\n"
        f"\"$TRTEXEC\" --onnx={name}.onnx --int8 --fp16 --calib={name}.calib.cache "
        f"--shapes={info['input']}:{shape} --saveEngine={name}.engine \"$@\"\n"
    )
    script.chmod(0o755)
    return {"jetson": {"onnx": onnx_path.name, "calibration_cache": f"{name}.calib.cache", "cache_tensors": info["tensors"],
                       "build_script": script.name, "tensorrt": "not run here (no GPU/TensorRT on the build machine)"}}
