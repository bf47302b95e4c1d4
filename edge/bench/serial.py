"""`edgekit bench serial`: latency and cost of the serial peripherals and the systemd notifier, on kernel pty pairs.

Prints: trigger latency (BUTTON written by the "microcontroller" -> burst active), relay latency (recognised event ->
`UNLOCK` readable by the microcontroller), NMEA throughput of one port, Notifier.frame() cost per frame, and the CPU
the idle reader threads use."""

from __future__ import annotations

import os
import resource
import select
import socket
import tempfile
import threading
import time

import click
import numpy as np

from edge.peripherals import Peripherals, PeripheralsConfig
from edge.service import Notifier

RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"


def _pty():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    return master, path


def _pct(ms: list[float]) -> str:
    a = np.asarray(ms)
    return (
        f"p50 {np.percentile(a, 50):6.3f} ms  p95 {np.percentile(a, 95):6.3f} ms  max {a.max():6.3f} ms  (n={a.size})"
    )


def _wait(pred, timeout=2.0) -> bool:
    end = time.perf_counter() + timeout
    while not pred():
        if time.perf_counter() > end:
            return False
        time.sleep(0.0001)  # a GIL-holding busy-wait would starve the reader thread and measure the switch interval
    return True


@click.command()
@click.option("--rounds", default=200, show_default=True, help="trigger and relay round trips")
@click.option("--nmea-lines", default=20000, show_default=True, help="RMC sentences for the throughput figure")
def command(rounds, nmea_lines):
    """Serial peripherals and sd_notify: latency and cost.
    \f
    A bench script, read top to bottom on purpose (~75 lines): ports, the measurements, teardown."""
    master, path = _pty()
    gps_master, gps_path = _pty()
    cfg = PeripheralsConfig.model_validate(
        {
            "triggers": {"port": {"url": path}, "burst_s": 0.02},
            "relay": {"port": {"url": path}, "authorized": ["alice"], "cooldown_s": 0, "interlock_unknown": False},
            "gps": {"port": {"url": gps_path}},
        }
    )
    p = Peripherals(cfg).start(lambda e: None)
    try:
        for port in p.ports.values():
            assert port.wait_open(5), port.last_error
        trig = []
        for _ in range(rounds):
            _wait(lambda: not p.burst_active())
            t0 = time.perf_counter()
            os.write(master, b"BUTTON\n")
            if _wait(p.burst_active):
                trig.append((time.perf_counter() - t0) * 1e3)
            time.sleep(0.002)
        relay = []
        for i in range(rounds):
            t0 = time.perf_counter()
            p.on_event({"type": "face_recognized", "identity": "alice", "track_id": i})
            buf = b""
            while not buf.endswith(b"\n") and select.select([master], [], [], 2)[0]:
                buf += os.read(master, 64)
            relay.append((time.perf_counter() - t0) * 1e3)
        port = p.ports[gps_path]
        start_lines = port.lines
        data = (RMC * nmea_lines).encode()
        t0 = time.perf_counter()
        for i in range(0, len(data), 4096):  # the kernel pty buffer is small: write in chunks as a UART would
            os.write(gps_master, data[i : i + 4096])
        _wait(lambda: port.lines - start_lines >= nmea_lines, 60)
        nmea_s = time.perf_counter() - t0
        parsed = port.lines - start_lines
        # Idle: one reader thread per port (2 here), each polling with a 0.2 s read timeout.
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        time.sleep(3.0)
        r1, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - t0
        idle_pct = 100 * ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) / wall
    finally:
        p.stop()
        os.close(master)
        os.close(gps_master)

    with tempfile.TemporaryDirectory() as d:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(f"{d}/notify")
        threading.Thread(target=lambda: [sock.recv(64) for _ in iter(int, 1)], daemon=True).start()  # systemd's part
        n = Notifier(env={"NOTIFY_SOCKET": f"{d}/notify", "WATCHDOG_USEC": "30000000"})
        off = Notifier(env={})
        calls = 200_000
        t0 = time.perf_counter()
        for _ in range(calls):
            n.frame()
        on_ns = (time.perf_counter() - t0) / calls * 1e9
        t0 = time.perf_counter()
        for _ in range(calls):
            off.frame()
        off_ns = (time.perf_counter() - t0) / calls * 1e9
        t0 = time.perf_counter()
        for _ in range(2000):
            n.notify("WATCHDOG=1")
        send_us = (time.perf_counter() - t0) / 2000 * 1e6

    click.echo(f"trigger  pty BUTTON -> burst_active      {_pct(trig)}")
    click.echo(f"relay    face_recognized -> UNLOCK read  {_pct(relay)}")
    click.echo(
        f"gps      {parsed} RMC lines through one pty in {nmea_s:.2f} s = {parsed / nmea_s:,.0f} lines/s "
        f"(a 10 Hz receiver sends ~50)"
    )
    click.echo(f"idle     CPU of the reader threads: {idle_pct:.2f} % of one core (2 ports, 0.2 s read timeout)")
    click.echo(
        f"notify   Notifier.frame(): {on_ns:.0f} ns/frame with a watchdog (no pet due), {off_ns:.0f} ns without "
        f"NOTIFY_SOCKET; one datagram send {send_us:.1f} us"
    )
