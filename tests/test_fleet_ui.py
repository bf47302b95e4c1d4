"""`edgekit fleet ui` over the store `fleet ingest` fills, all real: mosquitto, a doorbell agent (`edgekit run`, real
models and footage), the ingest worker and the page as their own processes, headless Chromium reading the page. The
agent killed with -9 goes offline on the page through the broker's last will. Bad input (malformed query parameters,
a wrong password, a missing CSRF token, a foreign Host, an open non-loopback bind) is refused with a clear status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from edge.ports import free_port, listening
from tests.fixtures.doorbell import live_camera, site
from tests.fixtures.ui import shot
from tests.mqtt_broker import MOSQUITTO

pytest.importorskip("starlette", reason="needs the ui extra (starlette, jinja2, uvicorn)")
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def edgekit(*args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", *args], cwd=ROOT, env=ENV, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def row_state(browser, device: str) -> str | None:
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.ID, f"device-{device}")
    return rows[0].get_attribute("data-state") if rows else None


def wait_for(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto (Debian package mosquitto)")
def test_the_fleet_page_shows_an_agent_online_then_offline_after_kill_9(zoo, media, gallery, broker, browser, tmp_path):
    from selenium.webdriver.common.by import By

    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    configs = []
    for name in ("door-1", "door-2"):
        folder = tmp_path / name
        folder.mkdir()
        cfg = site(
            zoo,
            media,
            gallery,
            folder,
            device_id=name,
            source=live_camera(media, fps=5),
            mqtt={
                "host": "127.0.0.1",
                "port": broker.port,
                "telemetry_interval_s": 1,
                "outbox": {"path": str(folder / "outbox.db")},
            },
        )
        (folder / "site.yaml").write_text(yaml.safe_dump(cfg))
        configs.append(folder / "site.yaml")
    ui_port = free_port()
    ingest = edgekit("fleet", "ingest", "--port", str(broker.port), "--db", db, log=tmp_path / "ingest.log")
    agents = [edgekit("run", "--config", str(c), log=c.with_name("agent.log")) for c in configs]
    page = edgekit("fleet", "ui", "--db", db, "--port", str(ui_port), log=tmp_path / "ui.log")
    try:
        assert listening(ui_port, 30), (tmp_path / "ui.log").read_text()
        url = f"http://127.0.0.1:{ui_port}/"
        browser.get(url)
        both_online = lambda: all(row_state(browser, d) == "online" for d in ("door-1", "door-2"))  # noqa: E731
        assert wait_for(lambda: browser.refresh() or both_online(), 90), (
            tmp_path / "door-1" / "agent.log"
        ).read_text()[-2000:] + (tmp_path / "ingest.log").read_text()[-2000:]
        # its telemetry and models arrive too; the caller's events show on the events page
        assert wait_for(lambda: browser.refresh() or "fps" in browser.find_element(By.ID, "device-door-1").text, 30)
        row = browser.find_element(By.ID, "device-door-1").text
        assert "doorbell" in row and "blazeface_short cpu" in row and "faceres cpu" in row, row
        assert "1 identity" in row, row
        browser.get(url + "events?device=door-1")
        assert wait_for(
            lambda: browser.refresh() or browser.find_elements(By.CSS_SELECTOR, "tr.event[data-device='door-1']"), 60
        )
        assert not browser.find_elements(By.CSS_SELECTOR, "tr.event[data-device='door-2']")  # the filter holds

        browser.get(url)
        agents[0].send_signal(signal.SIGKILL)  # no goodbye: the broker publishes the agent's will (retained offline)
        agents[0].wait(10)
        assert wait_for(lambda: browser.refresh() or row_state(browser, "door-1") == "offline", 60)
        row = browser.find_element(By.ID, "device-door-1").text
        assert "offline" in row and "doorbell" in row and "faceres cpu" in row, row  # still known while away
        assert row_state(browser, "door-2") == "online"  # the other door is untouched
        shot(browser, "fleet")
    finally:
        for p in (*agents, page, ingest):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (*agents, page, ingest):
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


# ---- bad input: the page served by uvicorn over a real store, asked over real HTTP ----
PASSWORD = "correct horse battery"


@pytest.fixture
def served(store_url):
    """The fleet page with a password over a store holding a device, events, a shelf alert and a push."""
    import json

    import uvicorn

    from edge.web.security import hash_password
    from fleetctl.store import event_row, open_store
    from fleetctl.web.server import make_app

    store = open_store(store_url)
    now = time.time()
    store.set_status(
        "door-1", json.dumps({"state": "online", "device_id": "door-1", "software": "1.0", "app": "doorbell"}), now
    )
    store.add_events(
        [
            event_row("door-1", {"type": "face_unknown", "seq": 1, "time": now - 5, "device_id": "door-1"}, now),
            event_row(
                "shop-7",
                {
                    "type": "out_of_stock",
                    "seq": 1,
                    "time": now - 3,
                    "zone": "top",
                    "class": "cola",
                    "count": 0,
                    "device_id": "shop-7",
                },
                now,
            ),
        ]
    )
    store.record_push("p1", "door-1", "gallery", "office.json", 32768, 65536, "sending")
    store.set_state(
        "door-1",
        json.dumps(
            {"gallery": {"identities": 2, "last_update": {"ok": True, "message": "accepted 2 identities", "time": now}}}
        ),
        now,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(store, "127.0.0.1", hash_password(PASSWORD)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert listening(port, 10)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)
    store.close()


def test_bad_input_on_the_fleet_page_is_refused_with_a_clear_status(served):
    import re

    import httpx

    with httpx.Client(base_url=served, follow_redirects=False, timeout=10) as c:
        assert c.get("/").status_code == 303 and c.get("/").headers["location"] == "/login?next=/"
        assert c.get("/api/devices").status_code == 401
        wrong = c.post("/login", data={"password": "guess", "next": "/"})
        assert wrong.status_code == 401 and "wrong password or token" in wrong.text
        assert c.get("/").status_code == 303  # still not logged in
        ok = c.post("/login", data={"password": PASSWORD, "next": "/events"})
        assert ok.status_code == 303 and ok.headers["location"] == "/events"

        page = c.get("/")
        assert page.status_code == 200 and 'id="device-door-1"' in page.text and "2 identities" in page.text
        shelf = c.get("/shelf").text
        assert "out_of_stock" in shelf and "<td>cola</td><td>0</td>" in shelf, shelf  # a count of 0 is shown
        pushes = c.get("/pushes").text
        assert "office.json" in pushes and "50%" in pushes and "accepted 2 identities" in pushes
        assert 'data-type="face_unknown" data-device="door-1"' in c.get("/events?device=door-1&type=face_unknown").text
        assert 'data-type="out_of_stock"' not in c.get("/events?device=door-1").text
        assert 'data-type="out_of_stock" data-device="shop-7"' in c.get("/events").text

        for path, status, says in [
            ("/events?limit=abc", 400, "query parameter 'limit': 'abc' is not a whole number 1..1000"),
            ("/events?limit=0", 400, "query parameter 'limit'"),
            ("/events?limit=99999999999999999999", 400, "query parameter 'limit'"),
            ("/events?device=door/1", 400, "query parameter 'device': 'door/1' is not a valid device"),
            ("/events?device=%2B", 400, "query parameter 'device'"),
            ("/events?type=DROP%20TABLE", 400, "query parameter 'type'"),
            ("/events?device=a&device=b", 400, "given 2 times"),
            ("/events?bogus=1", 400, "unknown query parameter 'bogus'"),
            ("/?device=x", 400, "unknown query parameter 'device': this page takes no parameters"),
            ("/nowhere", 404, "Not Found"),
        ]:
            r = c.get(path)
            assert r.status_code == status and says in r.text, (path, r.status_code, r.text)

        assert c.post("/logout", data={}).status_code == 403  # an action needs the page's CSRF token
        assert c.request("PUT", "/").status_code == 405
        assert c.get("/", headers={"host": "evil.example"}).status_code == 400  # DNS rebinding onto loopback
        csrf = re.search(r'data-csrf="([^"]+)"', c.get("/").text).group(1)
        assert c.post("/logout", data={"csrf": csrf}).status_code == 303
        assert c.get("/").status_code == 303  # logged out


def test_fleet_ui_refuses_an_open_bind_beyond_loopback(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "fleet", "ui", "--db", str(tmp_path / "f.db"), "--bind", "0.0.0.0"],
        cwd=ROOT,
        env={k: v for k, v in ENV.items() if not k.startswith("EDGEKIT_FLEET_UI")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "fleet ui --bind 0.0.0.0: not a loopback address" in r.stderr, r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "fleet", "ui", "--db", str(tmp_path / "f.db"), "--password-hash", "x"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "not an scrypt hash" in r.stderr, r.stderr
