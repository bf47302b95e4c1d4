"""The device side on arm64, under emulation: build a Debian 12 (bookworm, the Raspberry Pi OS base) arm64 userland
from `apt-get download` .debs, fetch edgekit's device dependencies as aarch64 wheels, and run
scripts/arm64/device_check.py under `qemu-aarch64-static` as a Raspberry Pi 5 (Cortex-A76) would; then run it on this
x86 machine and compare: every zoo INT8 model loads, the same faces, embeddings at cosine >= 0.99, and INT8 outputs
on the same input tensors bit for bit.

    python scripts/arm64/check.py            (make arm64-check)

Needs the Debian package qemu-user-static, apt-get and the built zoo ($EDGEKIT_MODELS). Everything downloaded is
cached under .cache/arm64/ (git-ignored). Emulated time is ~65x native: it is never a speed figure."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tomllib

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "arm64"
# Debian 12 arm64 packages for a working python3.11 (the set toolchain.md lists as enough).
DEBS = [
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "python3.11",
    "libc6",
    "libexpat1",
    "zlib1g",
    "libssl3",
    "libffi8",
    "libstdc++6",
    "libgcc-s1",
    "libbz2-1.0",
    "liblzma5",
    "libcrypt1",
    "libuuid1",
    "libsqlite3-0",
    "libncursesw6",
    "libtinfo6",
    "libreadline8",
    "media-types",
]
# Every manylinux tag up to bookworm's glibc 2.36: ai-edge-litert 2.3.0's arm64 wheel is tagged only
# manylinux_2_27_aarch64, and a shorter list silently resolves to ai-edge-litert 1.4.0.
PLATFORMS = ["manylinux2014_aarch64"] + [f"manylinux_2_{m}_aarch64" for m in range(17, 37)]
LITERT = "ai-edge-litert==2.3.0"
QEMU_CPU = "cortex-a76"  # must match the cpuinfo below, or LiteRT picks kernels the emulated CPU lacks
# A Raspberry Pi 5's /proc/cpuinfo (4 x Cortex-A76). qemu's -L prefix serves it to the guest instead of the host's
# x86 one, on which LiteRT segfaults in allocate_tensors.
CPUINFO_CORE = (
    "processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics "
    "fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
    "CPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n"
)
CPUINFO_TAIL = "Revision\t: c04170\nSerial\t\t: 0000000000000000\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
PHOTOS = ("obama", "biden", "astronaut")  # real photos, one face each, from registry packages (edge/media.py)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def rootfs() -> Path:
    root = CACHE / "rootfs"
    if (root / "usr" / "bin" / "python3.11").is_file():
        return root
    apt = CACHE / "apt"
    for d in ("lists/partial", "cache/archives/partial", "debs"):
        (apt / d).mkdir(parents=True, exist_ok=True)
    # A private apt state for arm64: no `dpkg --add-architecture` on this machine, its own package lists untouched.
    opts = [
        "-o",
        "APT::Architecture=arm64",
        "-o",
        "APT::Architectures::=arm64",
        "-o",
        f"Dir::State::Lists={apt}/lists",
        "-o",
        f"Dir::Cache={apt}/cache",
        "-o",
        "Debug::NoLocking=1",
    ]
    if os.geteuid() == 0:
        opts += ["-o", "APT::Sandbox::User=root"]
    log("arm64: fetching Debian 12 arm64 packages")
    sh(["apt-get", *opts, "-q", "update"], stdout=subprocess.DEVNULL)
    sh(["apt-get", *opts, "-q", "download", *[f"{p}:arm64" for p in DEBS]], cwd=apt / "debs", stdout=subprocess.DEVNULL)
    tmp = root.with_name("rootfs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for deb in sorted((apt / "debs").glob("*.deb")):
        sh(["dpkg", "-x", str(deb), str(tmp)])
    (tmp / "proc").mkdir(exist_ok=True)
    (tmp / "proc" / "cpuinfo").write_text("".join(CPUINFO_CORE.format(n=n) for n in range(4)) + CPUINFO_TAIL)
    tmp.rename(root)
    return root


def requirements() -> list[str]:
    """edgekit's own device dependencies (pyproject), with the interpreter pinned to the version checked here."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return [LITERT if d.startswith("ai-edge-litert") else d.split(";")[0].strip() for d in deps]


def site_packages() -> Path:
    site, wanted = CACHE / "site", "\n".join(requirements())
    if (site / ".requirements").is_file() and (site / ".requirements").read_text() == wanted:
        return site  # filled for these requirements (pyproject's change: fetched again)
    wheels = CACHE / "wheels"
    tags = [a for p in PLATFORMS for a in ("--platform", p)]
    common = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", *tags]
    log("arm64: fetching aarch64 wheels")
    sh([sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels), *common, *requirements()])
    if not list(wheels.glob("ai_edge_litert-2.3.0-*aarch64*.whl")):
        raise SystemExit(f"arm64: no aarch64 wheel of {LITERT} among {sorted(p.name for p in wheels.glob('ai_edge*'))}")
    shutil.rmtree(site, ignore_errors=True)
    sh(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(wheels),
            "--target",
            str(site),
            *common,
            *requirements(),
        ]
    )
    (site / ".wheels").write_text("\n".join(sorted(p.name for p in wheels.glob("*.whl"))) + "\n")
    (site / ".requirements").write_text(wanted)
    return site


def photos() -> list[Path]:
    sys.path.insert(0, str(REPO))
    from edge.media import media

    return [media(n) for n in PHOTOS]


def device_run(python: list[str], env: dict, models: Path, pics: list[Path], out: Path, save: bool) -> float:
    cmd = [
        *python,
        str(REPO / "scripts" / "arm64" / "device_check.py"),
        "--models",
        str(models),
        "--photos",
        *map(str, pics),
        "--inputs",
        str(CACHE / "run" / "inputs"),
        "--out",
        str(out),
    ]
    t0 = time.perf_counter()
    sh(cmd + (["--save-inputs"] if save else []), env=env, stdout=sys.stderr)  # stdout: the result JSON only
    return time.perf_counter() - t0


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


def box_iou(a, b) -> float:
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    return inter / (float(np.prod(a[2:] - a[:2])) + float(np.prod(b[2:] - b[:2])) - inter)


def compare(x86: Path, arm: Path, min_cosine: float = 0.99) -> dict:
    rx, ra = json.loads(x86.read_text()), json.loads(arm.read_text())
    ax, aa = np.load(x86.with_suffix(".npz")), np.load(arm.with_suffix(".npz"))
    models = {
        n: m["outputs_sha256_on_shared_input"] == ra["models"].get(n, {}).get("outputs_sha256_on_shared_input")
        for n, m in rx["models"].items()
    }
    faces, cosines, ious, problems = {}, {}, [], []
    for photo, px in rx["photos"].items():
        pa = ra["photos"].get(photo, {"faces": []})
        faces[photo] = [len(px["faces"]), len(pa["faces"])]
        if len(px["faces"]) != len(pa["faces"]) or not px["faces"]:
            problems.append(f"{photo}: {len(px['faces'])} faces on x86, {len(pa['faces'])} on arm64")
            continue
        ious += [box_iou(np.array(f["box"]), np.array(g["box"])) for f, g in zip(px["faces"], pa["faces"])]
        for key in ax.files:
            if key.startswith(photo + "|") and not key.endswith("|keypoints"):
                cosines.setdefault(key.split("|")[1], []).extend(cosine(ax[key], aa[key]).tolist())
    missing = sorted(set(rx["models"]) - {n for n, m in ra["models"].items() if m.get("loaded")})
    problems += [f"model {n}: not loaded on arm64" for n in missing]
    problems += [f"embedder {n}: cosine {min(c):.4f} < {min_cosine}" for n, c in cosines.items() if min(c) < min_cosine]
    problems += [f"face box IoU {min(ious):.3f} < 0.9"] if ious and min(ious) < 0.9 else []
    return {
        "models_loaded_on_arm64": f"{len(rx['models']) - len(missing)} of {len(rx['models'])}",
        "int8_outputs_bit_exact_on_same_input": f"{sum(models.values())} of {len(models)}",
        "not_bit_exact": sorted(n for n, ok in models.items() if not ok),
        "faces_x86_arm64": faces,
        "face_box_iou_min": round(min(ious), 4) if ious else None,
        "embedding_cosine_min": {n: round(min(c), 6) for n, c in cosines.items()},
        "problems": problems,
        "passed": not problems,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=Path(os.environ.get("EDGEKIT_MODELS", REPO / ".cache" / "models")))
    a = ap.parse_args(argv)
    qemu = shutil.which("qemu-aarch64-static")
    if not qemu:
        raise SystemExit(
            "arm64 check: qemu-aarch64-static not found: apt-get install qemu-user-static (scripts/sysdeps.sh)"
        )
    if not (a.models / "blazeface_short.card.json").is_file():
        raise SystemExit(f"arm64 check: no model zoo in {a.models}: run `edgekit models build` (make models)")
    t0 = time.perf_counter()
    root, site = rootfs(), site_packages()
    setup_s = time.perf_counter() - t0
    run_dir = CACHE / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    pics = photos()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    x86_s = device_run([sys.executable], {**env, "PYTHONPATH": str(REPO)}, a.models, pics, run_dir / "x86.json", True)
    # -S: no site module, so the guest never adds the host's (x86) dist-packages; PYTHONPATH names what it imports.
    arm_env = {**env, "QEMU_CPU": QEMU_CPU, "PYTHONPATH": f"{site}:{REPO}", "PYTHONNOUSERSITE": "1"}
    arm_s = device_run(
        [qemu, "-L", str(root), str(root / "usr" / "bin" / "python3.11"), "-S"],
        arm_env,
        a.models,
        pics,
        run_dir / "arm64.json",
        False,
    )
    result = compare(run_dir / "x86.json", run_dir / "arm64.json")
    result["seconds"] = {
        "setup (cached after the first run)": round(setup_s, 1),
        "x86 run": round(x86_s, 1),
        "arm64 emulated run (not a speed figure)": round(arm_s, 1),
        "total": round(time.perf_counter() - t0, 1),
    }
    result["arm64"] = {"qemu_cpu": QEMU_CPU, "litert": LITERT, "wheels": (site / ".wheels").read_text().split()}
    (run_dir / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "arm64"}, indent=1))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
