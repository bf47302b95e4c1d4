"""NVIDIA Jetson: the INT8 TFLite (runs on the Jetson's CPU via LiteRT) plus, for TensorRT on its GPU, an ONNX export of
the float model, a TensorRT calibration cache computed from the same real calibration images, and a build script.

Not run here (no GPU, no TensorRT on the build machine): `build_trt.sh` itself. PyPI's `tensorrt-cu12` cannot help:
its `tensorrt-cu12-libs` is a stub that fetches the real libraries from NVIDIA's own index at install time, and the
bindings alone fail to import (libnvonnxparser.so missing). Written and checked here: the ONNX file (runs in
onnxruntime, compared with the float TFLite), the cache against TensorRT's documented text layout (`read_cache`), and
the script up to the trtexec boundary (tests/test_jetson_cache.py).

The cache is TensorRT's text calibration table: a header `TRT-<version>-EntropyCalibration2`, then one
`tensor_name: <hex>` line per tensor, hex being the IEEE-754 float32 bits of the scale amax/127 (big-endian).
trtexec's own calibrator is an IInt8EntropyCalibrator2, and TensorRT drops a cache whose header names another
algorithm ("Calibration table does not match calibrator algorithm type") or, in TensorRT 10, another version, then
calibrates on random data: so the header says EntropyCalibration2, and the build script rewrites the version to the
TensorRT it finds on the Jetson."""

from __future__ import annotations

import re
import struct
import tempfile
from pathlib import Path

import numpy as np

from edge.errors import EdgekitError

IO_DTYPE = "int8"
# JetPack 6.1/6.2 ship TensorRT 10.3.0; the build script puts the Jetson's own version in the header anyway.
TENSORRT_VERSION = "10.3.0"
CACHE_ALGORITHM = "EntropyCalibration2"
_CACHE_LINE = re.compile(r"^(?P<name>.+): (?P<hex>[0-9a-f]{8})$")


def version_tag(version: str) -> str:
    """TensorRT's NV_TENSORRT_VERSION: major*1000+minor*100+patch up to 8.x, major*10000+minor*100+patch from 10."""
    major, minor, patch = (int(v) for v in (version.split(".") + ["0", "0"])[:3])
    return str(major * (10000 if major >= 10 else 1000) + minor * 100 + patch)


def cache_header(version: str = TENSORRT_VERSION) -> str:
    return f"TRT-{version_tag(version)}-{CACHE_ALGORITHM}"


def read_cache(text: str, where: str = "calibration cache") -> tuple[str, str, dict[str, float]]:
    """(version tag, algorithm, {tensor: scale}) from a TensorRT text calibration cache; a malformed one is an error."""
    lines = text.splitlines()
    head = re.fullmatch(r"TRT-(\d+)-(\w+)", lines[0]) if lines else None
    if head is None:
        raise EdgekitError(
            f"{where}: first line is not a TRT-<version>-<algorithm> header", "rebuild with --target jetson"
        )
    scales = {}
    for n, line in enumerate(lines[1:], 2):
        m = _CACHE_LINE.match(line)
        if m is None:
            raise EdgekitError(
                f"{where}: line {n} is not 'tensor_name: <8 hex digits>'", "rebuild with --target jetson"
            )
        scales[m["name"]] = struct.unpack(">f", bytes.fromhex(m["hex"]))[0]
    return head[1], head[2], scales


def export_onnx(float_tflite: bytes, path: Path) -> None:
    try:
        import tf2onnx
    except ImportError:
        raise EdgekitError(
            "jetson target: ONNX export needs tf2onnx",
            "pip install 'edgekit[convert]' (it includes tf2onnx, onnx, onnxruntime)",
        ) from None
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
    lines = [cache_header()]
    for n, a in amax.items():
        scale = max(a, 1e-8) / 127.0
        lines.append(f"{n}: {struct.pack('>f', scale).hex()}")
    return "\n".join(lines) + "\n", {"tensors": len(amax), "input": inp.name, "input_shape": list(calib[0].shape)}


# The cache header must name the Jetson's TensorRT (10.x drops a cache from another version and calibrates on random
# data): the script writes a copy with the local version, from the libnvinfer-bin package or trtexec's banner.
BUILD_SCRIPT = """#!/bin/sh
# Build a TensorRT INT8 engine on the Jetson (JetPack's trtexec). Not run on the build machine.
set -e
cd "$(dirname "$0")"
TRTEXEC=${{TRTEXEC:-/usr/src/tensorrt/bin/trtexec}}
v=$(dpkg-query -W -f='${{Version}}' libnvinfer-bin 2>/dev/null | cut -d- -f1 || true)
if [ -n "$v" ]; then
  tag=$(echo "$v" | awk -F. '{{ if ($1 >= 10) print $1*10000+$2*100+$3; else print $1*1000+$2*100+$3 }}')
else
  tag=$("$TRTEXEC" --help 2>&1 | sed -n 's/.*\\[TensorRT v\\([0-9]*\\)\\].*/\\1/p' | head -n 1)
fi
cache={name}.calib.cache
if [ -n "$tag" ]; then
  sed "1s/^TRT-[0-9]*-/TRT-$tag-/" {name}.calib.cache > {name}.calib.local.cache
  cache={name}.calib.local.cache
else
  echo "TensorRT version not found; using the cache header as shipped: $(head -n 1 {name}.calib.cache)" >&2
fi
"$TRTEXEC" --onnx={name}.onnx --int8 --fp16 --calib="$cache" --shapes={input}:{shape} --saveEngine={name}.engine "$@"
"""


def finalize(int8_path: Path, float_model, calib, out_dir: Path, name: str) -> dict:
    onnx_path = out_dir / f"{name}.onnx"
    export_onnx(float_model.tflite, onnx_path)
    cache, info = calibration_cache(onnx_path, calib)
    (out_dir / f"{name}.calib.cache").write_text(cache)
    shape = "x".join(str(d) for d in info["input_shape"])
    script = out_dir / f"build_trt_{name}.sh"
    script.write_text(BUILD_SCRIPT.format(name=name, input=info["input"], shape=shape))
    script.chmod(0o755)
    return {
        "jetson": {
            "onnx": onnx_path.name,
            "calibration_cache": f"{name}.calib.cache",
            "cache_tensors": info["tensors"],
            "cache_header": cache_header(),
            "build_script": script.name,
            "tensorrt": "not run here (no GPU/TensorRT on the build machine)",
        }
    }
