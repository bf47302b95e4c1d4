"""Issue 10: `edgekit install --systemd` wrote an ExecStart the hardened unit cannot run (an interpreter under /tmp or
/root, hidden by PrivateTmp=/ProtectHome=): the whole interpreter chain is checked. The unit gains a system call
filter, ProtectProc= and an IP allow list with the broker on it; systemd's own `security` score says how much."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.hostile.cli import ROOT, edgekit, one_line_error

UNIT = "etc/systemd/system/edgekit.service"
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")


def fake_install(prefix: Path, python_target: str, venv_home: str | None = None) -> str:
    """prefix/opt/edgekit: a venv-shaped install whose python links to python_target (as a venv's does)."""
    bin_ = prefix / "opt/edgekit/bin"
    bin_.mkdir(parents=True)
    (bin_ / "edgekit").write_text("#!/opt/edgekit/bin/python3\nfrom edge.cli import main\nmain()\n")
    (bin_ / "edgekit").chmod(0o755)
    os.symlink(python_target, bin_ / "python3")
    if venv_home:
        (prefix / "opt/edgekit/pyvenv.cfg").write_text(f"home = {venv_home}\nversion = 3.11.7\n")
    return "/opt/edgekit/bin/edgekit"


def test_secure_install_refuses_this_venv_whose_python_lives_under_root(tmp_path):
    """The probe: this very venv's python is a link to /root/.pyenv/...: the unit (ProtectHome=yes) could not start."""
    chain = [Path(sys.executable)]
    while chain[-1].is_symlink():
        chain.append(Path(os.path.join(chain[-1].parent, os.readlink(chain[-1]))))
    hidden = [p for p in chain if str(p).startswith(("/root/", "/home/", "/tmp/", "/var/tmp/", "/run/user/"))]
    if not hidden:
        pytest.skip(f"this interpreter ({' -> '.join(map(str, chain))}) is not under a hidden folder")
    r = edgekit("install", "--systemd", "--prefix", tmp_path, "--dry-run")
    one_line_error(
        r,
        "ProtectHome" if str(hidden[0]).startswith(("/root/", "/home/", "/run/user/")) else "PrivateTmp",
        "/opt/edgekit",
    )
    assert not (tmp_path / UNIT).exists()


@pytest.mark.parametrize(
    "target,home,why",
    [
        ("/tmp/pyenv/bin/python3.11", None, "PrivateTmp"),
        ("/root/.pyenv/versions/3.11.7/bin/python3", None, "ProtectHome"),
        ("/usr/bin/python3", "/home/ops/.pyenv/versions/3.11.7/bin", "ProtectHome"),  # the venv's base interpreter
    ],
)
def test_secure_install_checks_the_whole_interpreter_chain(tmp_path, target, home, why):
    exec_path = fake_install(tmp_path, target, home)
    r = edgekit("install", "--systemd", "--prefix", tmp_path, "--exec", exec_path)
    one_line_error(r, why, (home or target).split("/bin")[0])
    assert not (tmp_path / UNIT).exists()


def test_secure_install_accepts_an_interpreter_the_unit_can_see(tmp_path):
    exec_path = fake_install(tmp_path, "/usr/bin/python3", "/usr/bin")
    r = edgekit("install", "--systemd", "--prefix", tmp_path, "--exec", exec_path)
    assert r.returncode == 0, r.stderr
    assert f"ExecStart={exec_path} run" in (tmp_path / UNIT).read_text()


def unit_keys(text: str) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            k, v = line.split("=", 1)
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def installed(tmp_path: Path, *extra) -> Path:
    exec_path = fake_install(tmp_path, "/usr/bin/python3", "/usr/bin")
    r = edgekit("install", "--systemd", "--prefix", tmp_path, "--exec", exec_path, *extra)
    assert r.returncode == 0, r.stderr
    return tmp_path


def test_secure_unit_filters_system_calls_hides_processes_and_denies_ip_by_default(tmp_path):
    keys = unit_keys((installed(tmp_path) / UNIT).read_text())
    assert "@system-service" in keys["SystemCallFilter"][0]
    assert keys["ProtectProc"] == ["invisible"]
    assert keys["IPAddressDeny"] == ["any"] and "localhost" in " ".join(keys["IPAddressAllow"])


def test_secure_install_allows_the_sites_broker_through_the_ip_filter(tmp_path):
    site = tmp_path / "etc/edgekit/site.yaml"
    site.parent.mkdir(parents=True)
    site.write_text(yaml.safe_dump({"device_id": "door-1", "mqtt": {"host": "192.0.2.10", "port": 8883}}))
    root = installed(tmp_path, "--allow", "198.51.100.0/24")
    drop_in = root / "etc/systemd/system/edgekit.service.d/network.conf"
    keys = unit_keys(drop_in.read_text())
    allowed = " ".join(keys["IPAddressAllow"])
    assert "192.0.2.10" in allowed and "198.51.100.0/24" in allowed


@needs_analyze
def test_secure_systemd_analyze_security_exposure_is_lower(tmp_path):
    """`systemd-analyze security --offline=true`: 3.4 for the unit before this change; the figure now must be lower."""
    unit = installed(tmp_path) / UNIT
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True, text=True, timeout=120
    )
    m = re.search(r"Overall exposure level for edgekit\.service: ([0-9.]+)", done.stdout + done.stderr)
    assert m, done.stdout[-2000:] + done.stderr[-2000:]
    assert float(m.group(1)) < 3.4, m.group(0)


def syscall_set(name: str) -> set[str]:
    """The system calls in a systemd set, its nested sets expanded (from `systemd-analyze syscall-filter`)."""
    groups: dict[str, list[str]] = {}
    current = None
    listing = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.split()[0], [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.split()[0])

    def expand(n: str) -> set[str]:
        return set().union(*(expand(m) if m.startswith("@") else {m} for m in groups.get(n, [])))

    return expand(name)


@needs_analyze
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_secure_every_system_call_edgekit_run_makes_passes_the_filter(tmp_path, zoo, media):
    """The unit's SystemCallFilter= must not break the loop: trace a real run (models, camera file, events, crops,
    MQTT outbox) and check each system call it made against the unit's filter, expanded by systemd's own lists."""
    allowed: set[str] = set()
    for rule in unit_keys((installed(tmp_path / "root") / UNIT).read_text())["SystemCallFilter"]:
        names = set().union(*(syscall_set(w) if w.startswith("@") else {w} for w in rule.lstrip("~").split()))
        allowed = allowed - names if rule.startswith("~") else allowed | names
    assert len(allowed) > 100, sorted(allowed)[:20]
    cfg = {
        "device_id": "door-s",
        "runtime": {"models_dir": str(zoo)},
        "gallery": {"path": str(tmp_path / "g.db")},
        "source": {"uri": str(media("carphone")), "at_end": "stop", "pace": "asap"},
        "events": {"stdout": False, "file": str(tmp_path / "ev.jsonl"), "crops_dir": str(tmp_path / "crops")},
        "mqtt": {"host": "127.0.0.1", "port": 9, "outbox": {"path": str(tmp_path / "outbox.db")}},
    }
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(cfg))
    trace = tmp_path / "strace.txt"
    r = subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-c",
            "-o",
            str(trace),
            sys.executable,
            "-m",
            "edge.cli",
            "run",
            "--config",
            str(tmp_path / "site.yaml"),
            "--max-frames",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    used = {line.split()[-1] for line in trace.read_text().splitlines()[2:] if re.match(r"^\s*[0-9.]+\s", line)}
    used.discard("total")
    assert used and not (used - allowed), sorted(used - allowed)
