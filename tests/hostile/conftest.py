"""Hostile and careless input (issue 10): what every reproduction here shares. Tests drive the public CLI in a real
process and the public classes, so they hold across the runtime's reshaping."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml


def events(r) -> list[dict]:
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def summary(r) -> dict:
    return next(json.loads(line) for line in r.stderr.splitlines() if '"run_summary"' in line)


def fleet(name: str):
    """A module of the device's fleet part: edge.fleet.NAME (after the runtime redesign) or edge.io.NAME."""
    for package in ("edge.fleet", "edge.io"):
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as e:
            if not (e.name or "").startswith(package):
                raise
    pytest.skip(f"no fleet module {name}")


def operator(name: str):
    """The operator's side (signing, the fleet client): fleetctl.signing / fleetctl.operator on the workstation
    package, or where they lived before it (edge.io). name: sign_model, public_key_b64 or Operator."""
    try:
        if name == "Operator":
            from fleetctl.operator import Operator as found
        else:
            found = getattr(importlib.import_module("fleetctl.signing"), name)
        return found
    except ModuleNotFoundError:
        module = {
            "sign_model": "edge.io.model_update",
            "public_key_b64": "edge.io.security",
            "Operator": "edge.io.operator",
        }
        return getattr(importlib.import_module(module[name]), name)


def mqtt_helpers():
    """(Broker, MOSQUITTO, Consumer) for tests against a real mosquitto."""
    from tests.mqtt_broker import MOSQUITTO, Broker

    try:
        from tests.fixtures.mqtt import Consumer
    except ModuleNotFoundError:
        from tests.test_mqtt_link import Consumer
    return Broker, MOSQUITTO, Consumer


def write_site(tmp_path: Path, models: Path, name: str = "site.yaml", **sections) -> Path:
    """A doorbell site YAML in tmp_path: the given models dir, a gallery in tmp_path, sections laid over."""
    cfg = {
        "runtime": {"models_dir": str(models)},
        "gallery": {"path": str(tmp_path / "gallery.db")},
        "thresholds": {"min_votes": 1, "max_attempts": 2},
        **sections,
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def photos(media, tmp_path) -> Path:
    """A folder source: real photos of one face (Obama x2)."""
    d = tmp_path / "photos"
    d.mkdir()
    for i, name in enumerate(("obama", "obama2")):
        shutil.copy(media(name), d / f"{i + 1}.jpg")
    return d


def carded(zoo: Path, build: str, as_name: str) -> tuple[bytes, dict]:
    """A zoo build's weights with its card renamed to present it as model `as_name`."""
    tflite = (zoo / f"{build}.tflite").read_bytes()
    card = {**json.loads((zoo / f"{build}.card.json").read_text()), "name": as_name, "tflite": f"{as_name}.tflite"}
    return tflite, card


def install_as(models: Path, zoo: Path, build: str, as_name: str) -> None:
    """Put a zoo build in a device models dir under another name (what a card renamed by hand does)."""
    tflite, card = carded(zoo, build, as_name)
    (models / f"{as_name}.tflite").write_bytes(tflite)
    (models / f"{as_name}.card.json").write_text(json.dumps(card))


@contextlib.contextmanager
def read_only(*paths: Path):
    """Make files/folders read-only for this process, root included (chattr +i under root, chmod otherwise)."""
    root = os.geteuid() == 0
    done = []
    try:
        for p in paths:
            if root:
                if (
                    shutil.which("chattr") is None
                    or subprocess.run(["chattr", "+i", str(p)], capture_output=True).returncode
                ):
                    pytest.skip("running as root without chattr: cannot make a file read-only")
            else:
                p.chmod(0o555 if p.is_dir() else 0o444)
            done.append(p)
        yield
    finally:
        for p in done:
            if root:
                subprocess.run(["chattr", "-i", str(p)], capture_output=True)
            else:
                p.chmod(0o755 if p.is_dir() else 0o644)
