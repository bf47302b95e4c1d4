"""systemd's notify protocol (sd_notify(3)): READY, WATCHDOG, STOPPING, STATUS as datagrams on $NOTIFY_SOCKET.

Written here rather than taken from a library: the protocol is one `sendto` of `KEY=VALUE` lines to an AF_UNIX
datagram socket, which is about twenty lines; the choices were `systemd-python` (needs libsystemd headers and a
compiler on the device, no wheels) and `sdnotify` (unreleased since 2017, no abstract-socket or watchdog handling).
Without $NOTIFY_SOCKET (run by hand, in tests, under another supervisor) every call is a cheap no-op.

The watchdog is petted from `frame()`, which the loop calls once per processed frame, at most every WatchdogSec/2:
WATCHDOG=1 is sent only while frames actually flow, so a camera that hangs stops the pets and systemd restarts us."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)
SEND_TIMEOUT_S = 0.5


def notify_address(value: str | None) -> str | None:
    """$NOTIFY_SOCKET as a connectable address: a path, or `@name` for the abstract namespace. Others (vsock:): None."""
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    return value if value.startswith("/") else None


def watchdog_interval(env: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between pets (half of WatchdogSec), or None when systemd runs no watchdog for this process."""
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
        owner = int(env.get("WATCHDOG_PID", "0"))
    except ValueError:
        return None
    if usec <= 0 or (owner and owner != (os.getpid() if pid is None else pid)):
        return None
    return usec / 1e6 / 2


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        self.address = notify_address(env.get("NOTIFY_SOCKET"))
        self.pet_every_s = watchdog_interval(env) if self.address else None
        self._sock: socket.socket | None = None
        self._last_pet = float("-inf")
        self.sent = self.pets = self.errors = 0

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # A receiver that stops reading fills its queue and a blocking send would stall the video loop:
                # bound it, and count the loss like any other send failure.
                self._sock.settimeout(SEND_TIMEOUT_S)
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as e:  # systemd gone or socket missing: never worth crashing the loop for
            self.errors += 1
            if self.errors == 1:
                log.warning("sd_notify to %r failed: %s", self.address, e)
            return False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        """Models loaded, source opened: systemd marks the unit started and starts the watchdog clock."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def frame(self, now: float | None = None) -> bool:
        """Call once per processed frame; pets the watchdog when half its period has passed since the last pet."""
        if self.pet_every_s is None:
            return False
        now = time.monotonic() if now is None else now
        if now - self._last_pet < self.pet_every_s:
            return False
        self._last_pet = now
        if self.notify("WATCHDOG=1"):
            self.pets += 1
            return True
        return False

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text.splitlines()[0] if text else ''}")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more start/stop time (slow model load on a Pi) without raising TimeoutStartSec for everyone."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1e6)}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
