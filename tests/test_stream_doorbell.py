"""The doorbell on network cameras (real servers on loopback, the demo's footage): `edgekit run` on rtsp:// and
http:// recognises the faces it recognises from the file; a camera killed and back 30 s later; a stall that stops
the watchdog's pets; credentials never leave the capture code unmasked."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.stream_servers import MjpegServer, RtspServer, h264_clip, rtsp_missing

SECRET = "Door-s3cret"


@pytest.fixture(scope="module")
def stream_site(zoo, tmp_path_factory):
    """The demo's footage (MJPG .avi at its own 15 fps; H.264 .mp4 of it twice over) and a gallery with the demo's two
    people enrolled. Live sources run at the footage's own rate: a loop slower than the camera drops frames (newest
    wins), and on a busy machine Biden's 25 frames could all be dropped at a faster one."""
    from edge.cli.faces import enroll
    from edge.demo import prepare, read_clip

    work = tmp_path_factory.mktemp("stream-site")
    demo = prepare(work / "demo")
    frames = read_clip(demo["footage"])
    avi = demo["footage"]
    config = work / "site.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "device_id": "door",
                "source": {"uri": str(avi)},
                "gallery": {"path": str(work / "g.db")},
                "events": {"stdout": True},
            }
        )
    )
    enroll.main(
        ["carphone caller", "--video", str(demo["caller_clip"]), "--config", str(config)], standalone_mode=False
    )
    enroll.main(["Barack Obama", *map(str, demo["obama_photos"]), "--config", str(config)], standalone_mode=False)
    # twice over: a live run stops at 118 processed frames (Biden in view since 105), before the clip ends even
    # when a busy machine drops frames; past 130 the caller reappears where Biden was (the tracker would merge them)
    mp4 = h264_clip(frames, work / "door-x2.mp4", repeats=2, fps=15.0) if rtsp_missing() is None else None
    return {"config": config, "avi": avi, "mp4": mp4, "frames": frames, "work": work}


def need_rtsp():
    why = rtsp_missing()
    if why:
        if os.environ.get("EDGEKIT_REQUIRE_RTSP") == "1":
            pytest.fail(why)
        pytest.skip(why)


def start_run(config: Path, source: str, max_frames: int | None = None) -> subprocess.Popen:
    args = [sys.executable, "-m", "edge.cli", "run", "--config", str(config), "--source", source]
    if max_frames:
        args += ["--max-frames", str(max_frames)]
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "NOTIFY_SOCKET": ""}
    )


def finish_run(proc: subprocess.Popen) -> tuple[list[dict], str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    return [json.loads(line) for line in out.splitlines()], out + err


def decisions(events: list[dict]) -> tuple[set, int]:
    return (
        {e["identity"] for e in events if e["type"] == "face_recognized"},
        sum(e["type"] == "face_unknown" for e in events),
    )


def test_edgekit_run_recognises_the_demo_faces_over_rtsp_and_mjpeg_as_from_the_file(stream_site):
    need_rtsp()
    # One run at a time: beside a flat-out file run, or beside each other on a 2-core AVX2 box where one loop takes a
    # quarter of a core, the real-time cameras dropped the frames where Biden is unknown (CI failed on it twice).
    from_file, _ = finish_run(start_run(stream_site["config"], str(stream_site["avi"])))
    with RtspServer({"/door": stream_site["mp4"]}, user="door", password=SECRET) as rtsp:
        over_rtsp, rtsp_out = finish_run(
            start_run(stream_site["config"], rtsp.url(user="door", password=SECRET), max_frames=118)
        )
    with MjpegServer(stream_site["frames"], fps=15) as mjpeg:
        over_http, http_out = finish_run(start_run(stream_site["config"], mjpeg.url(), max_frames=118))
    recognised, unknown = decisions(from_file)
    assert recognised == {"carphone caller", "Barack Obama"} and unknown >= 1  # Biden is not enrolled
    for events in (over_rtsp, over_http):
        assert decisions(events)[0] == recognised and decisions(events)[1] >= 1, [e["type"] for e in events]
        assert not [e for e in events if e["type"].startswith("source_")], events
    assert SECRET not in rtsp_out


class Lines:
    """A stream for JsonLinesSink: events parsed as they are written, waitable."""

    def __init__(self):
        self.events, self.cond = [], threading.Condition()

    def write(self, text):
        with self.cond:
            self.events += [json.loads(line) for line in text.splitlines() if line]
            self.cond.notify_all()

    def flush(self):
        pass

    def wait_for(self, test, timeout: float) -> dict:
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [e for e in self.events if test(e)]
                if found:
                    return found[0]
                if not self.cond.wait(max(0.0, end - time.monotonic())) and time.monotonic() >= end:
                    raise AssertionError(f"no such event within {timeout} s: {[e['type'] for e in self.events]}")


def doorbell(stream_site, uri: str, notifier=None, **source):
    """The doorbell loop (edge.site.build_loop) on `uri` in a thread, its events as JSON lines in `lines`."""
    from edge.config import load_config
    from edge.events import JsonLinesSink
    from edge.site import build_loop

    cfg = load_config(stream_site["config"])
    cfg = cfg.model_copy(update={"source": cfg.source.model_copy(update={"uri": uri, **source})})
    lines, made = Lines(), []

    def run():  # the app's gallery (SQLite) belongs to the thread that made it
        made.append(build_loop(cfg, [JsonLinesSink(stream=lines)], notifier=notifier))
        made[0].run()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not made and time.monotonic() < end:
        time.sleep(0.02)
    return made[0], lines, thread


def test_camera_killed_mid_stream_and_back_30s_later(stream_site):
    """Reconnect with backoff, source_lost / source_restored with the outage, the track seen before the gap closed
    (face_left) before anything after it is decided: the person after the gap is a new track, decided afresh."""
    need_rtsp()
    from edge.site import reported_state

    server = RtspServer({"/door": stream_site["mp4"]}, user="door", password=SECRET).start()
    agent, lines, thread = doorbell(
        stream_site,
        server.url(user="door", password=SECRET),
        backoff_initial_s=0.5,
        backoff_max_s=2.0,
        read_timeout_s=2.0,
        open_timeout_s=3.0,
    )
    try:
        first = lines.wait_for(lambda e: e["type"] == "face_recognized", 30)
        time.sleep(0.3)
        server.kill()
        killed = time.monotonic()
        lines.wait_for(lambda e: e["type"] == "source_lost", 10)
        time.sleep(max(0.0, 30 - (time.monotonic() - killed)))
        server.start()  # same port, 30 s later
        restored = lines.wait_for(lambda e: e["type"] == "source_restored", 20)
        again = lines.wait_for(lambda e: e["type"] == "face_recognized" and e["track_id"] != first["track_id"], 20)
        state = json.dumps(reported_state(agent))
    finally:
        agent.stop()
        thread.join(10)
        server.kill()
    events = lines.events
    types = [e["type"] for e in events]
    lost = events[types.index("source_lost")]
    assert first["identity"] == again["identity"] == "carphone caller"
    assert 29 <= restored["outage_s"] <= 40 and restored["attempts"] >= 3, restored
    retries = [e["retry_in_s"] for e in events if e["type"] == "source_error"]
    assert retries[:4] == [0.5, 1.0, 2.0, 2.0] and "connection refused" in events[types.index("source_error")]["error"]
    left = [e for e in events if e["type"] == "face_left" and e["track_id"] == first["track_id"]]
    assert left and events.index(lost) < events.index(restored) < events.index(left[0]) < events.index(again)
    # nothing was decided while the camera was away
    between = events[events.index(lost) + 1 : events.index(restored)]
    assert {e["type"] for e in between} <= {"source_error"}, between
    assert not thread.is_alive()
    assert SECRET not in json.dumps(events) and SECRET not in state and "door:***@127.0.0.1" in state


def test_a_stall_is_a_read_timeout_not_a_hang_and_the_watchdog_stops_petting(stream_site, tmp_path):
    from edge.service import Notifier

    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    got: list[tuple[float, str]] = []

    def receive():
        while True:
            try:
                got.append((time.monotonic(), sock.recv(4096).decode()))
            except OSError:
                return

    threading.Thread(target=receive, daemon=True).start()
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "600000"})  # a pet due every 0.3 s
    camera = MjpegServer(stream_site["frames"], fps=30, user="cam", password=SECRET).start()
    agent, lines, thread = doorbell(
        stream_site, camera.url(user="cam", password=SECRET), notifier, read_timeout_s=1.5, backoff_initial_s=0.2
    )
    try:
        lines.wait_for(lambda e: e["type"] == "face_recognized", 30)
        camera.stalled.set()  # the socket stays open, nothing more comes
        stalled = time.monotonic()
        lost = lines.wait_for(lambda e: e["type"] == "source_lost", 10)
        time.sleep(max(0.0, stalled + 3.0 - time.monotonic()))
        camera.stalled.clear()
        lines.wait_for(lambda e: e["type"] == "source_restored", 10)
        time.sleep(1.0)
    finally:
        agent.stop()
        thread.join(10)
        camera.kill()
        sock.close()
    assert not thread.is_alive()
    assert "stalled" in lost["error"] and SECRET not in json.dumps(lines.events)
    assert got[0][1].startswith("READY=1") and SECRET not in got[0][1] and "cam:***@" in got[0][1]
    pets = [t for t, text in got if text == "WATCHDOG=1"]
    gaps = [b - a for a, b in zip(pets, pets[1:])]
    assert max(gaps) >= 2.5  # no pets while no frames came (systemd would restart a service stuck like this)
    assert pets[-1] > stalled + 3.0  # and they came back with the frames


def test_edgekit_run_with_a_wrong_password_says_so_in_one_line(stream_site):
    need_rtsp()
    with RtspServer({"/door": stream_site["mp4"]}, user="door", password=SECRET) as rtsp:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "edge.cli",
                "run",
                "--config",
                str(stream_site["config"]),
                "--source",
                rtsp.url(user="door", password=SECRET + "x"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "NOTIFY_SOCKET": ""},
        )
    assert r.returncode != 0 and "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "401 Unauthorized: the camera refused the user name or password" in last and "door:***@" in last
    assert SECRET not in r.stdout + r.stderr
