"""Conversion engines whose pins fight the convert extra (onnx2tf: tensorflow 2.19, numpy 1.26, GUI opencv;
litert-torch: torch, jax, transformers) live in virtualenvs of their own, which edgekit creates, fills with exact pins
and drives through a subprocess: a user never resolves pins by hand. `make engines` (or the first conversion) builds
them."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import platformdirs

from edge.errors import EdgekitError

# Exact pins, checked together on Python 3.11 (docs: notes in README "Converting from PyTorch and ONNX").
ENGINES: dict[str, list[str]] = {
    "onnx2tf": [
        "onnx2tf==1.29.24",
        "onnx==1.19.1",
        "onnxruntime==1.23.0",
        "tensorflow==2.19.0",
        "tf-keras==2.19.0",
        "onnx-graphsurgeon==0.5.8",
        "simple-onnx-processing-tools==1.1.32",
        "onnxsim==0.4.36",
        "onnxoptimizer==0.4.2",
        "numpy==1.26.4",
        "ai-edge-litert==2.1.0",
        "psutil==5.9.5",
        "protobuf==4.25.5",
        "h5py==3.11.0",
        "ml-dtypes==0.5.1",
        "opencv-python==4.11.0.86",
        "requests==2.32.5",
        "flatbuffers==25.12.19",
    ],
    # PyTorch -> ONNX only (torch.onnx.export); the ONNX then goes through onnx2tf. No torchvision: the index has
    # no CPU build of it, and the CUDA one does not load beside the CPU torch (`torchvision::nms does not exist`).
    "torch": ["torch==2.13.0+cpu", "onnx==1.19.1", "numpy==2.4.6"],
}


def engines_dir() -> Path:
    return Path(os.environ.get("EDGEKIT_ENGINES") or platformdirs.user_cache_dir("edgekit") + "/engines")


def python_of(engine: str) -> Path:
    return engines_dir() / engine / "bin" / "python"


def ensure(engine: str, log=print) -> Path:
    """The engine's interpreter, its virtualenv made and filled first if it is missing (minutes, once)."""
    py = python_of(engine)
    stamp = py.parent.parent / ".installed"
    if stamp.is_file() and stamp.read_text() == "\n".join(ENGINES[engine]):
        return py
    log(
        f"[{engine}] creating its own virtualenv in {py.parent.parent} (once; pins: "
        f"{', '.join(ENGINES[engine][:3])}...)"
    )
    venv.create(py.parent.parent, with_pip=True, clear=True)
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", *ENGINES[engine]], capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EdgekitError(
            f"engine {engine}: pip could not install its pins ({tail[0]})",
            f"check the package index, then retry (or `make engines`); venv: {py.parent.parent}",
        )
    stamp.write_text("\n".join(ENGINES[engine]))
    return py


def add_packages(engine: str, packages: list[str], log=print) -> None:
    """Packages a model's classes come from (e.g. facenet-pytorch), installed without their dependencies: their pins
    (often an old torch) must not replace the engine's."""
    py = ensure(engine, log)
    stamp = py.parent.parent / ".extra"
    have = set(stamp.read_text().split()) if stamp.is_file() else set()
    missing = [p for p in packages if p not in have]
    if not missing:
        return
    log(f"[{engine}] adding {', '.join(missing)} (no dependencies)")
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", *missing], capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EdgekitError(
            f"engine {engine}: cannot install {', '.join(missing)} ({tail[0]})",
            "check source.engine_packages in the card",
        )
    stamp.write_text("\n".join(sorted(have | set(missing))))


def run(engine: str, args: list[str], what: str, log=print, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python ARGS` in the engine's virtualenv (ARGS[0] may name one of its console scripts); a failure is one
    line naming `what` and the engine's last line of output."""
    py = ensure(engine, log)
    env = {**os.environ, "PYTHONNOUSERSITE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("PYTHONPATH", None)  # the engine must not see edgekit's convert env
    script = py.parent / args[0]
    argv = [str(script), *args[1:]] if script.is_file() and not args[0].endswith(".py") else [str(py), *args]
    r = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd)
    if r.returncode != 0:
        lines = [ln for ln in (r.stderr + r.stdout).strip().splitlines() if ln.strip()]
        raise EdgekitError(
            f"{what}: {engine} failed ({lines[-1] if lines else 'no output'})",
            "check the model file; the engine's full output: rerun with EDGEKIT_ENGINE_LOG=1",
        )
    if os.environ.get("EDGEKIT_ENGINE_LOG") == "1":
        print(r.stdout + r.stderr, file=sys.stderr)
    return r


if __name__ == "__main__":  # `make engines`: build the engines' virtualenvs ahead of the first conversion
    for name in sys.argv[1:] or list(ENGINES):
        print(f"{name}: {ensure(name)}")
