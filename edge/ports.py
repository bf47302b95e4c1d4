"""Loopback ports for the servers edgekit starts itself (the demo's broker, benches, tests): pick a free one, and
wait until something listens on one."""

from __future__ import annotations

import socket
import time


def free_port() -> int:
    """A port nothing listens on now (another process may still take it before we bind: callers retry or check)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> bool:
    """True once a TCP connection to host:port succeeds, False after timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), 0.2).close()
            return True
        except OSError:
            if time.monotonic() >= end:
                return False
            time.sleep(0.05)
