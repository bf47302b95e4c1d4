"""`edgekit bench ui`: what the device page costs the agent. The agent runs as `edgekit run` (a subprocess: the
doorbell on carphone footage letterboxed to 640x480, replayed in real time at --fps, with `ui:` on), and its CPU
(utime+stime from /proc, all its threads, per wall second), resident memory and loop fps are read with the page
closed and then open in a real headless Chromium (the live view polling at ui.refresh_hz, or the health page),
alternating, so drift shows as a difference between the closed runs. Without Chromium (`--client http`) a plain
client makes the live view's requests instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import click
import yaml

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def _fps(url: str, since: float) -> float | None:
    data = json.loads(_get(f"{url}/api/health"))
    values = [f for t, f in zip(data["t"], data["fps"]) if t >= since and f]
    return round(sum(values) / len(values), 2) if values else None


class HttpClient:
    """A page's requests without a browser: the live view's (frame info + JPEG at refresh_hz), the health page's
    (its plot data every 5 s)."""

    def __init__(self, url: str, hz: float):
        import threading

        self.url, self.hz, self._stop = url, hz, threading.Event()
        self.thread: threading.Thread | None = None
        self._threading = threading

    def _run(self, page: str):
        every, paths = (5.0, ["/api/health"]) if page == "/health" else (1 / self.hz, ["/api/live", "/live.jpg"])
        _get(f"{self.url}{page}")
        while not self._stop.wait(every):
            for path in paths:
                _get(f"{self.url}{path}")

    def open(self, page: str):
        self.thread = self._threading.Thread(target=self._run, args=(page,), daemon=True)
        self.thread.start()

    def close(self):
        self._stop.set()
        self.thread.join()


class ChromiumClient:
    def __init__(self, url: str):
        import shutil

        from selenium import webdriver

        binary = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
        driver = shutil.which("chromedriver")
        if not binary or not driver:
            raise click.ClickException("needs headless Chromium (Debian chromium, chromium-driver); or --client http")
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
            options.add_argument(arg)
        self.url = url
        self.chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))

    def open(self, page: str):
        self.chrome.get(f"{self.url}{page}")

    def close(self):
        self.chrome.get("about:blank")

    def quit(self):
        self.chrome.quit()


def measure(pid: int, url: str, seconds: float) -> dict:
    c0, t0, since = _cpu_s(pid), time.monotonic(), time.time()
    time.sleep(seconds)
    cpu = (_cpu_s(pid) - c0) / (time.monotonic() - t0)
    return {"cpu_per_s": round(cpu, 3), "rss_mb": _rss_mb(pid), "fps": _fps(url, since)}


def _without_ui(site: dict, tmp: Path, seconds: float) -> dict:
    """The same agent with no `ui:` section: what enabling the page costs before anyone opens it (its libraries,
    the server thread, the telemetry sampler). No page, so no fps here; models load in the first 15 s."""
    path = tmp / "no-ui.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in site.items() if k != "ui"}))
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(15)
        c0, t0 = _cpu_s(agent.pid), time.monotonic()
        time.sleep(seconds)
        cpu = (_cpu_s(agent.pid) - c0) / (time.monotonic() - t0)
        return {"round": 0, "page": "no ui: section", "cpu_per_s": round(cpu, 3), "rss_mb": _rss_mb(agent.pid)}
    finally:
        agent.terminate()
        agent.wait(20)


@click.command()
@click.option("--fps", default=15.0, show_default=True, help="the camera's frame rate (the file is replayed at it)")
@click.option("--seconds", default=30.0, show_default=True, help="per run")
@click.option("--rounds", default=2, show_default=True, help="closed/open pairs")
@click.option("--client", type=click.Choice(["chromium", "http"]), default="chromium", show_default=True)
@click.option("--refresh-hz", default=4.0, show_default=True, help="the live view's refresh rate (ui.refresh_hz)")
def command(fps, seconds, rounds, client, refresh_hz):
    """Agent CPU, RSS and fps with the device page closed vs open."""
    from edge.bench.cpu import write_mjpg
    from edge.images import video_frames
    from edge.media import media
    from edge.ports import free_port
    from edge.preprocess import letterbox

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frames = [letterbox(f, 640, 480) for _, f in video_frames(media("carphone"))]
        video = write_mjpg(tmp / "faces.avi", frames, fps)
        port = free_port()
        site = {
            "source": {"uri": str(video), "at_end": "loop", "pace": "realtime", "fps": fps},
            "events": {"stdout": False},
            "gallery": {"path": str(tmp / "gallery.db")},
            "ui": {"port": port, "sample_s": 1.0, "refresh_hz": refresh_hz},
        }
        without = _without_ui(site, tmp, seconds)
        click.echo(json.dumps(without))
        (tmp / "site.yaml").write_text(yaml.safe_dump(site))
        log = open(tmp / "agent.log", "wb")  # noqa: SIM115 - closed with the agent below
        agent = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(tmp / "site.yaml")],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if json.loads(_get(f"{url}/api/live")).get("frame_id") is not None:
                        break
                except OSError:
                    pass
                if agent.poll() is not None or time.monotonic() > deadline:
                    raise click.ClickException("the agent did not start serving its page")
                time.sleep(0.5)
            time.sleep(5)  # warm-up: models loaded, first tracks
            rows = [without]
            for r in range(rounds):
                for state, page in (("closed", None), ("live view open", "/"), ("health open", "/health")):
                    browser = None
                    if page:
                        browser = ChromiumClient(url) if client == "chromium" else HttpClient(url, refresh_hz)
                        browser.open(page)
                        time.sleep(2)
                    try:
                        row = {"round": r + 1, "page": state, **measure(agent.pid, url, seconds)}
                    except OSError:
                        tail = (tmp / "agent.log").read_text(errors="replace")[-2000:]
                        raise click.ClickException(f"the agent stopped answering; its log ends:\n{tail}") from None
                    if browser is not None:
                        browser.close()
                        if hasattr(browser, "quit"):
                            browser.quit()
                    rows.append(row)
                    click.echo(json.dumps(row))
        finally:
            agent.terminate()
            agent.wait(20)
            log.close()
    click.echo(json.dumps({"fps": fps, "seconds": seconds, "client": client, "refresh_hz": refresh_hz, "runs": rows}))
