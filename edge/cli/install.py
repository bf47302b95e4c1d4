"""`edgekit install --systemd`: install the systemd unit, the system user and a site config skeleton.

Writes, under --prefix (default /; a staging directory or image root works too):
  etc/systemd/system/edgekit.service   the unit, ExecStart pointing at this edgekit (or --exec)
  etc/sysusers.d/edgekit.conf          the dedicated `edgekit` user and its device groups
  etc/edgekit/site.yaml                a config skeleton, only if none is there (a site's config is never replaced)
On a live system as root it then runs systemd-sysusers and `systemctl daemon-reload`; it never enables or starts the
service by itself (the models and config come first), it prints those steps."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import click

from edge.errors import EdgekitError

TEMPLATE_EXEC = "/opt/edgekit/bin/edgekit"
HIDDEN_BY_PROTECT_HOME = ("/home/", "/root/", "/run/user/")
HIDDEN_BY_PRIVATE_TMP = ("/tmp/", "/var/tmp/")
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"  # what systemd gives a service
NETWORK_DROP_IN = "etc/systemd/system/edgekit.service.d/network.conf"

SKELETON = """\
# edgekit site config, written by `edgekit install --systemd`. Edit it, then `systemctl restart edgekit`.
# Every key is checked at start: a wrong one is named in `journalctl -u edgekit`. Full example: configs/doorbell.yaml.
device_id: {device_id}
app: doorbell
source:
  kind: opencv          # opencv (index, /dev/videoN, rtsp://, http://, file) | folder | picamera2
  uri: /dev/video0
  width: 640
  height: 480
runtime:
  accelerator: {{type: cpu, threads: 2}}   # or {{type: coral, device: usb:0}} with a coral-target model
  models_dir: /var/lib/edgekit/models   # the service can write only under /var/lib/edgekit
detector: {{model: blazeface_short, min_face_px: 24}}
# dlib_resnet: the zoo's most accurate on LFW (99.2%); its card carries its thresholds. faceres: the fastest.
embedder: {{model: dlib_resnet}}
gallery: {{path: /var/lib/edgekit/gallery.db}}
events: {{stdout: true}}              # stdout goes to the journal
# Serial peripherals: uncomment the parts that are wired up (ports by URL: /dev/ttyACM0, /dev/serial0, ...).
#peripherals:
#  triggers: {{port: {{url: /dev/ttyACM0}}, burst_s: 10}}
#  relay: {{port: {{url: /dev/ttyACM0}}, authorized: [alice], unlock_s: 3, cooldown_s: 10, interlock_unknown: true}}
#  gps: {{port: {{url: /dev/serial0, baudrate: 9600}}, max_age_s: 5}}
"""


def unit_source(name: str) -> Path:
    """The shipped file (edge/service/NAME links to systemd/NAME in the source tree; wheels carry a copy)."""
    path = Path(__file__).resolve().parents[1] / "service" / name
    if not path.is_file():
        raise EdgekitError(
            f"{path}: not found in this edgekit install",
            "reinstall edgekit (`pip install --force-reinstall edgekit`) or copy systemd/ from the source",
        )
    return path


def default_exec() -> str:
    candidate = Path(sys.executable).parent / "edgekit"
    return str(candidate if candidate.exists() else (shutil.which("edgekit") or candidate))


def render_unit(exec_path: str) -> str:
    if re.search(r"\s", exec_path) or not exec_path.startswith("/"):
        raise EdgekitError(
            f"--exec {exec_path!r}: must be an absolute path without spaces",
            "install edgekit into e.g. /opt/edgekit (python3 -m venv /opt/edgekit)",
        )
    hidden_by(exec_path, exec_path)
    text = unit_source("edgekit.service").read_text()
    if TEMPLATE_EXEC not in text:
        raise EdgekitError("edgekit.service: ExecStart placeholder missing", "restore systemd/edgekit.service")
    return text.replace(TEMPLATE_EXEC, exec_path)


def hidden_by(path: str, what: str) -> None:
    """Refuse a path the hardened unit cannot see: ProtectHome= hides /home, /root, /run/user; PrivateTmp= gives the
    service its own empty /tmp and /var/tmp."""
    p = path.rstrip("/") + "/"
    option = (
        "ProtectHome=yes"
        if p.startswith(HIDDEN_BY_PROTECT_HOME)
        else "PrivateTmp=yes"
        if p.startswith(HIDDEN_BY_PRIVATE_TMP)
        else None
    )
    if option:
        raise EdgekitError(
            f"--exec: {what} is under {'/'.join(path.split('/')[:2])}/, which the unit's {option} "
            "hides from the service: it could not start",
            "install edgekit with a system Python outside /home, /root and /tmp: "
            "/usr/bin/python3 -m venv /opt/edgekit && /opt/edgekit/bin/pip install edgekit, "
            "then --exec /opt/edgekit/bin/edgekit",
        )


def interpreter_chain(exec_path: str, prefix: Path) -> list[str]:
    """Every path the service needs to start `exec_path`, each checked with hidden_by(): the script and its links,
    its #! interpreter and that one's links, and a virtualenv's base interpreter (pyvenv.cfg `home`). Paths are
    looked up under `prefix` (an image root) where they exist there, else on this machine."""
    chain: list[str] = []

    def local(p: str) -> Path:
        under = prefix / p.lstrip("/")
        return under if prefix != Path("/") and (under.exists() or under.is_symlink()) else Path(p)

    def follow(p: str) -> str:
        for _ in range(40):
            chain.append(p)
            hidden_by(p, " -> ".join(chain))
            if not local(p).is_symlink():
                return p
            p = os.path.normpath(os.path.join(os.path.dirname(p), os.readlink(local(p))))
        raise EdgekitError(f"--exec {exec_path}: too many symbolic links", "point --exec at the real file")

    try:
        first = local(follow(exec_path)).read_bytes()[:256].split(b"\n")[0].decode(errors="replace")
    except OSError:
        return chain
    words = first[2:].split() if first.startswith("#!") else []  # no #!: a binary, nothing more to follow
    if len(words) > 1 and os.path.basename(words[0]) == "env":  # #!/usr/bin/env python3: the service's PATH decides
        words = [shutil.which(words[1], path=SERVICE_PATH) or ""]
    if not words or not words[0].startswith("/"):
        return chain
    follow(words[0])
    venv_cfg = local(str(Path(words[0]).parent.parent / "pyvenv.cfg"))
    if venv_cfg.is_file():
        for line in venv_cfg.read_text(errors="replace").splitlines():
            key, _, home = line.partition("=")
            if key.strip() == "home" and home.strip():
                hidden_by(home.strip(), f"{' -> '.join(chain)}, a virtualenv of {home.strip()}")
                chain.append(home.strip())
    return chain


def network_allow(prefix: Path, extra: tuple[str, ...]) -> list[str]:
    """The addresses the unit's IP filter lets through besides localhost: --allow values and the hosts the site's
    config names (its broker, a network camera), resolved now: IPAddressAllow= takes addresses, not names."""
    import ipaddress
    from urllib.parse import urlparse

    import yaml

    hosts = list(extra)
    site = prefix / "etc/edgekit/site.yaml"
    if site.is_file():
        try:
            cfg = yaml.safe_load(site.read_text()) or {}
        except yaml.YAMLError:
            cfg = {}
        mqtt = cfg.get("mqtt") if isinstance(cfg, dict) else None
        if isinstance(mqtt, dict) and isinstance(mqtt.get("host"), str):
            hosts.append(mqtt["host"])
        uri = (cfg.get("source") or {}).get("uri") if isinstance(cfg.get("source"), dict) else None
        if isinstance(uri, str) and "://" in uri and urlparse(uri).hostname:
            hosts.append(urlparse(uri).hostname)
    out: list[str] = []
    for h in hosts:
        try:
            out.append(str(ipaddress.ip_network(h, strict=False)) if "/" in h else str(ipaddress.ip_address(h)))
        except ValueError:
            try:
                out += sorted({a[4][0] for a in socket.getaddrinfo(h, None)})
            except OSError:
                raise EdgekitError(
                    f"install: cannot resolve {h!r} for the unit's IP allow list",
                    "pass its address with --allow IP (or a network, --allow 192.168.1.0/24)",
                ) from None
    return list(dict.fromkeys(out))


def network_drop_in(addresses: list[str]) -> str:
    return (
        "# Written by `edgekit install --systemd`: the unit allows only localhost (IPAddressDeny=any); these are\n"
        "# the site's broker, cameras and --allow values. Re-run the install after changing them.\n"
        f"[Service]\nIPAddressAllow={' '.join(addresses)}\n"
    )


def skeleton(device_id: str | None = None) -> str:
    if device_id is None:
        device_id = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:64] or "edgekit"
    return SKELETON.format(device_id=device_id)


def plan(prefix: Path, exec_path: str, allow: tuple[str, ...] = ()) -> list[tuple[Path, str, bool]]:
    """(path, content, overwrite) for every file the install writes."""
    files = [
        (prefix / "etc/systemd/system/edgekit.service", render_unit(exec_path), True),
        (prefix / "etc/sysusers.d/edgekit.conf", unit_source("edgekit.sysusers.conf").read_text(), True),
        (prefix / "etc/edgekit/site.yaml", skeleton(), False),
    ]
    addresses = network_allow(prefix, allow)
    if addresses:
        files.append((prefix / NETWORK_DROP_IN, network_drop_in(addresses), True))
    return files


def _live_systemd() -> bool:
    return Path("/run/systemd/system").is_dir() and os.geteuid() == 0


@click.command()
@click.option("--systemd", "systemd_", is_flag=True, help="install the systemd unit, user and config skeleton")
@click.option(
    "--prefix",
    type=click.Path(file_okay=False),
    default="/",
    show_default=True,
    help="root to install under (a staging directory or image root)",
)
@click.option("--exec", "exec_path", default=None, help="edgekit executable for ExecStart (default: this one)")
@click.option(
    "--allow",
    multiple=True,
    metavar="IP|NET|HOST",
    help="also let the service reach this address (the site's mqtt.host and camera URL are added by themselves)",
)
@click.option("--dry-run", is_flag=True, help="print what would be written; write nothing")
def install(systemd_, prefix, exec_path, allow, dry_run):
    """Install edgekit as a system service."""
    if not systemd_:
        raise EdgekitError("install: nothing to install", "pass --systemd")
    prefix = Path(prefix)
    exec_path = exec_path or default_exec()
    files = plan(prefix, exec_path, allow)  # checks the unit can be rendered for this path first
    if not (Path(exec_path).is_file() or (prefix / exec_path.lstrip("/")).is_file()):
        raise EdgekitError(
            f"--exec {exec_path}: no such file (here or under {prefix})",
            "pass --exec with the path of the edgekit command on the device",
        )
    interpreter_chain(exec_path, prefix)  # and everything it needs to start is visible to the hardened unit
    for path, content, overwrite in files:
        if path.exists() and not overwrite:
            click.echo(f"kept     {path} (already there)")
            continue
        if dry_run:
            click.echo(f"would write {path}:")
            click.echo("".join(f"    {line}\n" for line in content.splitlines()), nl=False)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o644)
        click.echo(f"wrote    {path}")
    steps = ["systemd-sysusers edgekit.conf", "systemctl daemon-reload"]
    if not dry_run and prefix == Path("/") and _live_systemd():
        for step in steps:
            done = subprocess.run(step.split(), capture_output=True, text=True)
            click.echo(f"ran      {step}" + ("" if done.returncode == 0 else f" (failed: {done.stderr.strip()})"))
        steps = []
    click.echo("next:")
    for step in steps + [
        "edit /etc/edgekit/site.yaml (camera, models, gallery, peripherals)",
        "put the model zoo in /var/lib/edgekit/models (EDGEKIT_MODELS=/var/lib/edgekit/models edgekit models build, "
        "or copy NAME.tflite + NAME.card.json there), then chown -R edgekit: /var/lib/edgekit",
        "systemctl enable --now edgekit && journalctl -fu edgekit",
    ]:
        click.echo(f"  {step}")
