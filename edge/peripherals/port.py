"""A serial port that yields text lines and survives being unplugged.

Opened by URL with pyserial's `serial_for_url`, so /dev/ttyUSB0, a pty path, `loop://` and `socket://` all work the
same. A reader thread splits bytes into lines and hands each to the listeners; a port that fails (USB unplugged,
pty master closed) is closed and reopened with exponential backoff. Garbage never escapes: undecodable bytes become
U+FFFD, an over-long run without a newline is dropped, and a listener that raises is counted, not fatal."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import serial

from edge.events.types import SerialPortEvent
from edge.peripherals.config import PortConfig

log = logging.getLogger(__name__)

Listener = Callable[[str], None]


class LinePort:
    def __init__(self, cfg: PortConfig, emit: Callable[[dict], None] | None = None):
        self.cfg = cfg
        self.listeners: list[Listener] = []
        self._emit = emit or (lambda event: None)
        self._ser: serial.SerialBase | None = None
        self._lock = threading.Lock()  # guards _ser between the reader (reopen) and writers (relay)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.opened = self.failed_opens = self.lost = self.lines = self.dropped_bytes = self.listener_errors = 0
        self.last_error: str | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> LinePort:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"serial {self.cfg.url}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._close()

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    def write_line(self, text: str) -> bool:
        """Send one line; False (not an exception) when the port is down, so the caller can audit the failure."""
        with self._lock:
            ser = self._ser
            if ser is None:
                return False
            try:
                ser.write(text.encode("ascii") + b"\n")
                ser.flush()
                return True
            except (serial.SerialException, OSError) as e:
                self.last_error = str(e)
                return False

    def wait_open(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.is_open:
                return True
            time.sleep(0.01)
        return self.is_open

    # -- reader thread -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        delay = self.cfg.backoff_initial_s
        failures = 0
        while not self._stop.is_set():
            if not self._open():
                failures += 1
                if failures == 1:  # one event per outage, not per retry
                    self._emit(SerialPortEvent(url=self.cfg.url, state="unavailable", error=self.last_error))
                self._stop.wait(delay)
                delay = min(delay * 2, self.cfg.backoff_max_s)
                continue
            failures = 0
            self._emit(SerialPortEvent(url=self.cfg.url, state="open", opened=self.opened))
            if self._read_until_failure():
                delay = self.cfg.backoff_initial_s  # it worked for a while: a fresh outage starts from the bottom
            if self._stop.is_set():
                break
            self.lost += 1
            self._emit(SerialPortEvent(url=self.cfg.url, state="lost", error=self.last_error))
            self._stop.wait(delay)
            delay = min(delay * 2, self.cfg.backoff_max_s)

    def _open(self) -> bool:
        try:
            ser = serial.serial_for_url(self.cfg.url, baudrate=self.cfg.baudrate, timeout=0.2, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as e:
            self.last_error = str(e)
            self.failed_opens += 1
            return False
        with self._lock:
            self._ser = ser
        self.opened += 1
        return True

    def _close(self) -> None:
        with self._lock:
            ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def _read_until_failure(self) -> bool:
        """Read lines until the port fails or stop(); True if at least one whole line arrived (the port works)."""
        buf = bytearray()
        got_line = False
        ser = self._ser
        while not self._stop.is_set():
            try:
                data = ser.read(max(1, ser.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as e:
                # TypeError/AttributeError: pyserial racing its own close() (fd set to None under us).
                self.last_error = str(e)
                break
            if not data:
                continue
            buf += data
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    break
                raw, buf = bytes(buf[:nl]), buf[nl + 1 :]
                got_line = True
                self._deliver(raw)
            if len(buf) > self.cfg.max_line_bytes:
                self.dropped_bytes += len(buf)
                buf.clear()
        self._close()
        return got_line

    def _deliver(self, raw: bytes) -> None:
        if len(raw) > self.cfg.max_line_bytes:
            self.dropped_bytes += len(raw)
            return
        line = raw.decode("ascii", errors="replace").strip().strip("\x00")
        if not line:
            return
        self.lines += 1
        for listener in self.listeners:
            try:
                listener(line)
            except Exception:  # a bug in one handler must not stop the port; counted and logged once per kind
                self.listener_errors += 1
                log.exception("serial %s: listener failed on %r", self.cfg.url, line[:80])

    def stats(self) -> dict:
        return {
            "url": self.cfg.url,
            "open": self.is_open,
            "opened": self.opened,
            "failed_opens": self.failed_opens,
            "lost": self.lost,
            "lines": self.lines,
            "dropped_bytes": self.dropped_bytes,
            "listener_errors": self.listener_errors,
        }
