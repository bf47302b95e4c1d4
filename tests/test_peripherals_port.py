"""LinePort on real serial devices: pty pairs (the kernel's, as a USB adapter looks to us), socat ptys and loop://."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from edge.peripherals import LinePort, PortConfig


def wait_for(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


class Pty:
    """A kernel pty pair whose slave is reached through a stable symlink, like /dev/serial/by-id/...:
    `unplug()` closes the master (the device vanishes), `plug()` makes a new pair behind the same path."""

    def __init__(self, link: Path):
        self.link, self.master = link, None
        self.plug()

    def plug(self):
        master, slave = os.openpty()
        tmp = self.link.with_suffix(".new")
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link)
        os.close(slave)  # only the port under test holds the slave open
        self.master = master

    def unplug(self):
        os.close(self.master)
        self.master = None

    def write(self, data: bytes):
        os.write(self.master, data)

    def close(self):
        if self.master is not None:
            self.unplug()


@pytest.fixture
def pty(tmp_path):
    p = Pty(tmp_path / "ttyUSB0")
    yield p
    p.close()


def started(url, events=None, **cfg):
    lines = []
    port = LinePort(
        PortConfig(url=str(url), backoff_initial_s=0.05, backoff_max_s=0.4, **cfg),
        emit=(events.append if events is not None else None),
    )
    port.listeners.append(lines.append)
    port.start()
    assert port.wait_open(5), port.last_error
    return port, lines


def test_loop_url_echoes_written_lines():
    port, lines = started("loop://")
    try:
        assert port.write_line("BUTTON front")
        assert wait_for(lambda: lines == ["BUTTON front"])
    finally:
        port.stop()
    assert not port.is_open and not port.write_line("late")  # stopped: a write reports failure, never raises


def test_pty_lines_partial_writes_and_crlf(pty):
    port, lines = started(pty.link)
    try:
        for chunk in (b"MOT", b"ION hall\r", b"\nBUT", b"TON\r\n", b"\r\n\n", b"GPS"):
            pty.write(chunk)
            time.sleep(0.05)  # separate reads: a line split over several reads is still one line
        assert wait_for(lambda: lines == ["MOTION hall", "BUTTON"])
        time.sleep(0.2)
        assert lines == ["MOTION hall", "BUTTON"]  # "GPS" has no newline yet: held, not delivered
        pty.write(b" 1\n")
        assert wait_for(lambda: lines[-1:] == ["GPS 1"])
    finally:
        port.stop()


def test_garbage_and_overlong_runs_never_stop_the_port(pty):
    port, lines = started(pty.link, max_line_bytes=64)
    rng = __import__("random").Random(7)
    try:
        pty.write(bytes(rng.randrange(256) for _ in range(4000)))  # line noise (baud mismatch, boot chatter)
        pty.write(b"\xff\xfe\x00\x80" * 100)  # a long run with no newline: dropped, not buffered forever
        pty.write(b"\nBUTTON\n")
        assert wait_for(lambda: lines[-1:] == ["BUTTON"])
        assert port.is_open and port.dropped_bytes > 0
        assert all(len(line) <= 64 for line in lines)
    finally:
        port.stop()


def test_listener_that_raises_is_counted_not_fatal(pty):
    port, lines = started(pty.link)
    port.listeners.insert(0, lambda line: 1 / 0)
    try:
        pty.write(b"ONE\nTWO\n")
        assert wait_for(lambda: lines == ["ONE", "TWO"])
        assert port.listener_errors == 2 and port.is_open
    finally:
        port.stop()


def test_vanished_port_is_reopened_with_backoff(pty):
    events = []
    port, lines = started(pty.link, events)
    try:
        pty.write(b"BEFORE\n")
        assert wait_for(lambda: lines == ["BEFORE"])
        pty.unplug()  # the adapter is pulled: reads fail, the device node goes away
        assert wait_for(lambda: not port.is_open)
        time.sleep(1.5)
        # Backoff 0.05 -> 0.1 -> 0.2 -> 0.4 (max): about 6 tries in 1.5 s, not 30 as a fixed 50 ms retry would make.
        assert 2 <= port.failed_opens <= 10, port.failed_opens
        pty.plug()  # plugged back in, same path
        assert wait_for(lambda: port.is_open, 3)
        pty.write(b"AFTER\n")
        assert wait_for(lambda: lines == ["BEFORE", "AFTER"])
        assert port.opened == 2 and port.lost == 1
        states = [e["state"] for e in events if e["type"] == "serial_port"]
        assert states == ["open", "lost", "unavailable", "open"]  # one event per transition, none per retry
    finally:
        port.stop()


def test_port_missing_at_start_opens_when_it_appears(tmp_path):
    link = tmp_path / "ttyACM0"
    port = LinePort(PortConfig(url=str(link), backoff_initial_s=0.05, backoff_max_s=0.2))
    lines = []
    port.listeners.append(lines.append)
    port.start()
    try:
        time.sleep(0.3)
        assert not port.is_open and port.failed_opens >= 1 and "ttyACM0" in port.last_error
        assert not port.write_line("UNLOCK 3")
        p = Pty(link)
        try:
            assert port.wait_open(3)
            p.write(b"HELLO\n")
            assert wait_for(lambda: lines == ["HELLO"])
        finally:
            port.stop()
            p.close()
    finally:
        port.stop()


@pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")
def test_socat_pty_pair_unplug_and_replug(tmp_path):
    """socat's linked pty pair, killed and restarted: the same by-id style path disappears and comes back."""
    ours, theirs = tmp_path / "dev", tmp_path / "mcu"

    def socat():
        proc = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={ours}", f"pty,raw,echo=0,link={theirs}"], stderr=subprocess.DEVNULL
        )
        assert wait_for(lambda: ours.exists() and theirs.exists(), 5)
        return proc

    proc = socat()
    port, lines = started(ours)
    try:
        import serial

        with serial.serial_for_url(str(theirs), timeout=1) as mcu:
            mcu.write(b"BUTTON\n")
            mcu.flush()
            assert wait_for(lambda: lines == ["BUTTON"])
            assert port.write_line("UNLOCK 3")
            assert mcu.readline() == b"UNLOCK 3\n"
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)
        assert wait_for(lambda: not port.is_open)
        proc = socat()
        assert wait_for(lambda: port.is_open, 5)
        with serial.serial_for_url(str(theirs), timeout=1) as mcu:
            mcu.write(b"MOTION\n")
            mcu.flush()
            assert wait_for(lambda: lines == ["BUTTON", "MOTION"])
    finally:
        port.stop()
        proc.terminate()
        proc.wait(5)
