"""A real mosquitto on a free loopback port, with its own config file, started and stopped by the tests."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, workdir: Path, port: int | None = None, extra: str = "", persistent: bool = False):
        self.dir, self.port = Path(workdir), port or free_port()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o777)  # mosquitto started as root drops to user mosquitto
        self.conf = self.dir / "mosquitto.conf"
        persistence = f"persistence true\npersistence_location {self.dir}/\n" if persistent else "persistence false\n"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{persistence}{extra}")
        self.proc = None

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()[-500:]}")
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self, graceful: bool = False) -> None:
        """SIGKILL, or SIGTERM (then mosquitto saves its persistent sessions before it exits)."""
        if self.proc and self.proc.poll() is None:
            (self.proc.terminate if graceful else self.proc.kill)()
            self.proc.wait(10)
