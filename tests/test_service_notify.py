"""sd_notify against a real AF_UNIX datagram socket the test owns and passes as NOTIFY_SOCKET (as systemd does)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from edge.service import GracefulStop, Notifier
from edge.service.notify import notify_address, watchdog_interval


@pytest.fixture
def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def messages(sock, timeout=0.3) -> list[str]:
    """Everything that arrives until the socket is quiet for `timeout`."""
    out = []
    sock.settimeout(timeout)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except TimeoutError:
        return out
    finally:
        sock.settimeout(5)


def test_without_notify_socket_everything_is_a_no_op():
    n = Notifier(env={})
    assert not n.enabled
    assert not any([n.ready("up"), n.frame(), n.status("x"), n.stopping(), n.extend_timeout(10)])
    assert n.sent == 0


def test_ready_status_stopping_datagrams(notify_socket):
    path, sock = notify_socket
    n = Notifier(env={"NOTIFY_SOCKET": path})
    assert n.ready("models loaded, camera open")
    assert sock.recv(4096) == b"READY=1\nSTATUS=models loaded, camera open"
    assert n.status("12.5 fps\nsecond line dropped")
    assert sock.recv(4096) == b"STATUS=12.5 fps"
    assert n.extend_timeout(90)
    assert sock.recv(4096) == b"EXTEND_TIMEOUT_USEC=90000000"
    assert n.stopping("flushing outbox")
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=flushing outbox"
    assert n.frame() is False  # no WATCHDOG_USEC: no watchdog, no pets
    assert messages(sock) == []


def test_abstract_namespace_socket():
    name = f"edgekit-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert Notifier(env={"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_watchdog_is_petted_at_most_every_half_period(notify_socket):
    path, sock = notify_socket
    n = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())})
    assert n.pet_every_s == 1.0
    # 30 fps for 2.5 s of frame times: pets at 0, 1, 2 only.
    pets = [n.frame(now=100.0 + i / 30) for i in range(75)]
    assert sum(pets) == 3 and [i for i, p in enumerate(pets) if p] == [0, 30, 60]
    assert messages(sock) == ["WATCHDOG=1"] * 3


def test_watchdog_meant_for_another_process_or_unusable_addresses():
    assert watchdog_interval({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, pid=4242) is None
    assert watchdog_interval({"WATCHDOG_USEC": "1000000"}, pid=4242) == 0.5
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
    assert notify_address("vsock:2:1234") is None and notify_address("") is None
    assert notify_address("@x") == "\0x" and notify_address("/run/systemd/notify") == "/run/systemd/notify"


def test_gone_socket_never_raises(tmp_path):
    n = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert n.enabled and not n.ready() and not n.status("x")
    assert n.errors == 2


def test_a_receiver_that_stops_reading_never_stalls_the_loop(notify_socket):
    path, sock = notify_socket  # bound, never read: its queue fills
    n = Notifier(env={"NOTIFY_SOCKET": path})
    for _ in range(5000):
        t0 = time.monotonic()
        if not n.notify("WATCHDOG=1"):
            break
    assert n.errors == 1 and time.monotonic() - t0 < 1.5  # the full queue cost one bounded wait, then a counted loss
    assert sock.recv(64) == b"WATCHDOG=1"


def test_graceful_stop_in_process():
    called = []
    previous = signal.getsignal(signal.SIGTERM)
    with GracefulStop(on_stop=[lambda: called.append(1)]) as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(2) and stop.signal_name == "SIGTERM" and called == [1]
    assert signal.getsignal(signal.SIGTERM) is previous


AGENT = textwrap.dedent("""
    # A stand-in device loop with the real service helpers: load, READY, frames (pets), SIGTERM, flush, STOPPING.
    import sys, time
    from edge.service import GracefulStop, Notifier
    hang_after = int(sys.argv[1])
    n = Notifier()
    stop = GracefulStop().install()
    time.sleep(0.2)                      # "loading models"
    n.ready("running")
    frames = 0
    while not stop.requested:
        if frames < hang_after:          # a camera that hangs stops delivering frames
            frames += 1
            n.frame()
        time.sleep(0.02)
    n.stopping("flushed %d events" % frames)
    if hang_after < 0:                   # a shutdown that wedges: only a second signal ends it
        time.sleep(60)
""")


def run_agent(tmp_path, path, hang_after, watchdog_usec=400_000):
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(watchdog_usec)}
    env.pop("WATCHDOG_PID", None)
    return subprocess.Popen([sys.executable, str(script), str(hang_after)], env=env)


def test_agent_lifecycle_ready_pets_then_graceful_stop(tmp_path, notify_socket):
    path, sock = notify_socket
    start = time.monotonic()
    proc = run_agent(tmp_path, path, hang_after=10**9)
    try:
        assert sock.recv(4096) == b"READY=1\nSTATUS=running"
        pets = 0
        while pets < 4:  # frames flow: pets keep coming (WatchdogSec 0.4 s -> one per ~0.2 s of frames)
            assert sock.recv(4096) == b"WATCHDOG=1"
            pets += 1
        assert time.monotonic() - start >= 0.5  # paced (4 pets need >= 3 intervals of 0.2 s), not one per frame
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0  # graceful: the loop finished its frame and returned
        tail = messages(sock)
        assert tail[-1].startswith("STOPPING=1\nSTATUS=flushed ") and set(tail[:-1]) <= {"WATCHDOG=1"}
    finally:
        proc.kill()
        proc.wait()


def test_hung_frames_stop_the_pets(tmp_path, notify_socket):
    path, sock = notify_socket
    # WatchdogSec 2 s (a pet due every 1 s); 3 frames, then the camera hangs but the process lives on.
    proc = run_agent(tmp_path, path, hang_after=3, watchdog_usec=2_000_000)
    try:
        assert sock.recv(4096) == b"READY=1\nSTATUS=running"
        early = messages(sock, timeout=2.5)  # systemd would have killed and restarted us by now
        assert early == ["WATCHDOG=1"]  # one pet from the first frame, then silence while no frames flow
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_second_sigterm_ends_a_wedged_shutdown(tmp_path, notify_socket):
    path, sock = notify_socket
    proc = run_agent(tmp_path, path, hang_after=-1)
    try:
        assert sock.recv(4096).startswith(b"READY=1")
        proc.send_signal(signal.SIGTERM)
        assert sock.recv(4096).startswith(b"STOPPING=1")
        assert proc.poll() is None  # stuck in its shutdown
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
