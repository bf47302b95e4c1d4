"""A throwaway PostgreSQL (Debian's `postgresql` package) in a temporary directory on a loopback port, for the tests
and `edgekit bench ingest`. PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from edge.errors import EdgekitError


def pg_bin() -> Path | None:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/<major>/bin), or one on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TempPostgres:
    def __init__(self, folder: Path | None = None, settings: dict | None = None):
        """`folder`: its parents must let the server's user in (pytest's tmp dirs do not: their root is reset to 0700
        by every pytest run), so the default is a fresh directory of its own under the system's temp dir."""
        self.bin = pg_bin()
        if self.bin is None:
            raise EdgekitError("PostgreSQL server binaries not found (initdb)", "apt install postgresql")
        self.dir = Path(folder or tempfile.mkdtemp(prefix="edgekit-pg-"))
        self.data, self.port = self.dir / "data", _free_port()
        # durability as shipped (fsync on); a few sizes for a bench-sized load
        self.settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.dir}'",
            "shared_buffers": "256MB",
            "max_wal_size": "2GB",
            **(settings or {}),
        }
        self.user = "postgres" if os.geteuid() == 0 else None
        self.url = f"postgresql://edgekit@127.0.0.1:{self.port}/edgekit"
        self.proc = None

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        kw = {}
        if self.user:
            pw = pwd.getpwnam(self.user)
            kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        return subprocess.run(list(args), capture_output=True, text=True, **kw)

    def start(self) -> TempPostgres:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        r = self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "edgekit", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        if r.returncode:
            raise EdgekitError(f"initdb failed: {r.stderr.strip()[-300:]}", f"see {self.dir}")
        conf = "\n".join(f"{k} = {v}" for k, v in self.settings.items())
        with open(self.data / "postgresql.conf", "a") as f:
            f.write("\n" + conf + "\n")
        r = self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "60", "start"
        )
        if r.returncode:
            raise EdgekitError(f"PostgreSQL did not start: {r.stderr.strip()[-300:]}", f"see {self.dir / 'log'}")
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "edgekit", "edgekit")
        return self

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.remove()
