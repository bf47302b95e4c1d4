"""The systemd unit as `edgekit install --systemd` writes it, checked by systemd's own tools."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge.config import load_config
from edge.peripherals import PeripheralsConfig

ROOT = Path(__file__).resolve().parents[1]
EDGEKIT = str(Path(sys.executable).parent / "edgekit")
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")


def edgekit(*args):
    return subprocess.run([EDGEKIT, *args], capture_output=True, text=True, timeout=60)


INSTALLED = "/opt/edgekit/bin/edgekit"


def venv_in(prefix: Path) -> str:
    """An edgekit venv in an image root, made from the system Python: all the hardened unit can start
    (this test's own venv may sit under /root or /tmp, which the unit hides; install refuses that)."""
    bin_ = prefix / "opt/edgekit/bin"
    bin_.mkdir(parents=True)
    (bin_ / "edgekit").write_text("#!/opt/edgekit/bin/python3\nfrom edge.cli import main\nmain()\n")
    (bin_ / "edgekit").chmod(0o755)
    (bin_ / "python3").symlink_to("/usr/bin/python3")
    (prefix / "opt/edgekit/pyvenv.cfg").write_text("home = /usr/bin\n")
    return INSTALLED


@pytest.fixture
def installed(tmp_path):
    done = edgekit("install", "--systemd", "--prefix", str(tmp_path), "--exec", venv_in(tmp_path))
    assert done.returncode == 0, done.stderr
    return tmp_path


def unit_keys(text: str) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            k, v = line.split("=", 1)
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def verify(unit: Path) -> subprocess.CompletedProcess:
    """systemd-analyze verify checks that ExecStart exists: point it at the image root's copy while it runs."""
    text = unit.read_text()
    root = unit.parents[3]  # PREFIX/etc/systemd/system/UNIT
    unit.write_text(text.replace(f"ExecStart={INSTALLED}", f"ExecStart={root}{INSTALLED}"))
    try:
        return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    finally:
        unit.write_text(text)


@needs_analyze
def test_installed_unit_verifies_without_warnings(installed):
    unit = installed / "etc/systemd/system/edgekit.service"
    done = verify(unit)
    assert done.returncode == 0, done.stderr
    ours = [line for line in done.stderr.splitlines() if "edgekit" in line]
    assert ours == [], ours


@needs_analyze
def test_example_drop_in_verifies_too(installed):
    unit = installed / "etc/systemd/system/edgekit.service"
    shutil.copytree(ROOT / "systemd/edgekit.service.d", unit.parent / "edgekit.service.d")
    done = verify(unit)
    assert done.returncode == 0 and not [line for line in done.stderr.splitlines() if "edgekit" in line], done.stderr


@needs_analyze
def test_verify_does_catch_a_mistake(installed):
    """The check above can fail: a misspelt key is only a warning (exit 0), which is why stderr is read."""
    unit = installed / "etc/systemd/system/edgekit.service"
    bad = unit.with_name("edgekit-bad.service")
    bad.write_text(unit.read_text().replace("WatchdogSec=", "WatchdogSecs="))
    done = verify(bad)
    assert done.returncode == 0 and "Unknown key 'WatchdogSecs'" in done.stderr


def test_unit_is_notify_watchdog_restart_and_hardened(installed):
    keys = unit_keys((installed / "etc/systemd/system/edgekit.service").read_text())
    single = {k: v[-1] for k, v in keys.items()}
    assert single["Type"] == "notify" and single["NotifyAccess"] == "main"
    assert int(single["WatchdogSec"]) > 0 and single["Restart"] == "on-failure"
    assert single["ExecStart"] == f"{INSTALLED} run --config /etc/edgekit/site.yaml"
    assert single["User"] == "edgekit" and single["StateDirectory"] == "edgekit"
    assert single["ProtectSystem"] == "strict" and single["NoNewPrivileges"] == "yes"
    assert single["ProtectHome"] == "yes" and single["DevicePolicy"] == "closed"
    assert "EDGEKIT_MODELS=/var/lib/edgekit/models" in keys["Environment"]
    allowed = {v.split()[0] for v in keys["DeviceAllow"]}
    assert {"char-video4linux", "char-ttyUSB", "char-ttyACM", "char-apex", "char-usb_device"} <= allowed
    assert all(v.endswith(" rw") for v in keys["DeviceAllow"])  # no mknod


def test_config_skeleton_loads_and_its_peripherals_block_validates(installed):
    site = installed / "etc/edgekit/site.yaml"
    cfg = load_config(site)
    assert cfg.gallery.path.startswith("/var/lib/edgekit/")  # the only writable place under ProtectSystem=strict
    assert cfg.runtime.models_dir == "/var/lib/edgekit/models"
    # the zoo's most accurate embedder, its thresholds from its own card (none in the skeleton to go stale)
    assert cfg.embedder.model == "dlib_resnet" and cfg.thresholds.model_fields_set == set()
    block = "\n".join(
        re.sub(r"^#", "", line) for line in site.read_text().splitlines() if line.startswith(("#peripherals", "#  "))
    )
    parts = yaml.safe_load(block)["peripherals"]
    assert set(PeripheralsConfig.model_validate(parts).model_dump(exclude_none=True)) == {"triggers", "relay", "gps"}


def test_reinstall_keeps_the_site_config_and_dry_run_writes_nothing(installed, tmp_path_factory):
    site = installed / "etc/edgekit/site.yaml"
    site.write_text(site.read_text().replace("uri: /dev/video0", "uri: /dev/video2"))
    again = edgekit("install", "--systemd", "--prefix", str(installed), "--exec", INSTALLED)
    assert again.returncode == 0 and "kept" in again.stdout and "uri: /dev/video2" in site.read_text()
    empty = tmp_path_factory.mktemp("dry")
    dry = edgekit("install", "--systemd", "--prefix", str(empty), "--dry-run", "--exec", "/usr/bin/python3")
    assert dry.returncode == 0 and "Type=notify" in dry.stdout
    assert list(empty.iterdir()) == []


def test_install_mistakes_are_one_line(tmp_path):
    for args, needle in [
        (["install"], "pass --systemd"),
        (["install", "--systemd", "--prefix", str(tmp_path), "--exec", "/home/pi/venv/bin/edgekit"], "ProtectHome"),
        (["install", "--systemd", "--prefix", str(tmp_path), "--exec", "/opt/nothing/edgekit"], "no such file"),
    ]:
        done = edgekit(*args)
        assert done.returncode == 2 and needle in done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="needs systemd-sysusers")
def test_sysusers_file_creates_the_user_and_device_groups(installed, tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    done = subprocess.run(
        ["systemd-sysusers", f"--root={root}", "--dry-run", str(installed / "etc/sysusers.d/edgekit.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "Creating user 'edgekit'" in out
    for group in ("video", "dialout", "plugdev", "apex"):
        assert f"Creating group '{group}'" in out
