"""The device page against a running doorbell (the real loop, models, footage and Chromium): live view, enrol and
remove from the page, and the bad input it must refuse with nothing changed."""

from __future__ import annotations

import sqlite3

import cv2
import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from edge.faces.gallery import Gallery
from edge.private import private_file
from tests.fixtures.doorbell import live_camera, site
from tests.fixtures.ui import csrf_of, running_agent, shot

pytestmark = pytest.mark.zoo


@pytest.fixture(scope="module")
def agent(zoo, media, gallery, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agent")
    own = tmp / "gallery.db"
    with sqlite3.connect(gallery) as src, sqlite3.connect(private_file(own)) as dst:
        src.backup(dst)  # the page enrols and removes: its own copy (with what is still in the WAL)
    config = site(
        zoo,
        media,
        own,
        tmp,
        ui={"port": 0, "sample_s": 0.5, "max_upload_bytes": 200_000},
    )
    config["source"] = live_camera(media)
    config["events"]["crops_dir"] = str(tmp / "crops")
    with running_agent(config) as server:
        server.gallery = own
        yield server


@pytest.fixture(scope="module")
def caller_photo(media, tmp_path_factory):
    """Frame 110 of the clip as a JPEG file: one clear face (the one the module's gallery enrolled)."""
    cap = cv2.VideoCapture(str(media("carphone")))
    frame = [cap.read()[1] for _ in range(111)][110]
    path = tmp_path_factory.mktemp("photo") / "caller.jpg"
    cv2.imwrite(str(path), cv2.resize(frame, None, fx=3, fy=3))
    return path


@pytest.fixture
def client(agent):
    with httpx.Client(base_url=agent.url, follow_redirects=False, timeout=30) as c:
        yield c


def identities(agent) -> dict:
    return Gallery(agent.gallery).identities()


def drawn(browser) -> list[str]:
    """What the live view lists beside the canvas (read in one go: the page replaces the list every refresh)."""
    return browser.execute_script("return [...document.querySelectorAll('#objects li')].map(l => l.textContent)")


def test_the_live_view_shows_a_face_box_with_its_track_and_name(agent, browser):
    browser.get(agent.url + "/")
    faces = WebDriverWait(browser, 60).until(lambda b: [t for t in drawn(b) if t.startswith("face #")])
    assert all("[" in f for f in faces)  # with its box
    WebDriverWait(browser, 90).until(lambda b: any(t.startswith("face #") and "caller" in t for t in drawn(b)))
    shot(browser, "live")


def test_enrol_from_a_photo_and_remove_from_the_page(agent, browser, caller_photo):
    browser.get(agent.url + "/faces")
    browser.find_element(By.ID, "enroll-name").send_keys("Ann")
    browser.find_element(By.ID, "enroll-photo").send_keys(str(caller_photo))
    browser.find_element(By.CSS_SELECTOR, "#enroll button").click()
    WebDriverWait(browser, 30).until(lambda b: "enrolled Ann" in b.find_element(By.ID, "msg").text)
    assert identities(agent).get("Ann") == 1
    rows = {r.get_attribute("data-name") for r in browser.find_elements(By.CSS_SELECTOR, "tr.identity")}
    assert {"Ann", "caller"} <= rows
    shot(browser, "faces")
    browser.find_element(By.CSS_SELECTOR, 'tr.identity[data-name="Ann"] button.remove').click()
    WebDriverWait(browser, 30).until(lambda b: "removed Ann" in b.find_element(By.ID, "msg").text)
    assert "Ann" not in identities(agent) and "caller" in identities(agent)


def test_events_page_lists_the_decisions_with_their_crops(agent, browser):
    browser.get(agent.url + "/events?type=face_recognized")
    rows = WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, "tr.event"))
    assert {r.get_attribute("data-type") for r in rows} == {"face_recognized"}
    crop = browser.find_element(By.CSS_SELECTOR, "tr.event img.crop")
    assert browser.execute_script("return arguments[0].naturalWidth", crop) > 0
    shot(browser, "events")


def test_marking_a_recognition_wrong_from_the_events_page_stores_a_negative(agent, browser):
    browser.get(agent.url + "/events?type=face_recognized")
    WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, "tr.event form"))
    before = Gallery(agent.gallery).negative_counts().get("caller", 0)
    browser.find_element(By.CSS_SELECTOR, "tr.event form button").click()
    WebDriverWait(browser, 30).until(lambda b: "marked wrong" in b.find_element(By.ID, "msg").text)
    assert Gallery(agent.gallery).negative_counts().get("caller", 0) == before + 1


def test_health_page_plots_the_telemetry(agent, browser):
    browser.get(agent.url + "/health")
    WebDriverWait(browser, 30).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, '.plot[data-title="frames per second"]')
    )
    assert browser.find_elements(By.CSS_SELECTOR, ".plot canvas")
    shot(browser, "health")


# ---- bad input: refused with a clear status, nothing changed ----


def test_a_post_without_csrf_token_is_refused(agent, client):
    before = identities(agent)
    r = client.post("/faces/remove", data={"name": "caller"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = client.post("/faces/remove", data={"name": "caller", "csrf": "0" * 64})
    assert r.status_code == 403
    assert identities(agent) == before


def test_another_sites_csrf_token_is_refused(agent):
    with httpx.Client(base_url=agent.url) as a, httpx.Client(base_url=agent.url) as b:
        token_a = csrf_of(a)
        csrf_of(b)
        assert b.post("/faces/remove", data={"name": "caller", "csrf": token_a}).status_code == 403
    assert "caller" in identities(agent)


def test_rejecting_an_unknown_event_is_refused(agent, client):
    r = client.post("/events/reject", data={"csrf": csrf_of(client), "event_id": "no-such-event"})
    assert r.status_code == 400


def test_malformed_form_posts_are_refused(agent, client):
    csrf = csrf_of(client)
    before = identities(agent)
    r = client.post("/faces/remove", data={"csrf": csrf})  # no name
    assert r.status_code == 400 and "'name'" in r.text
    r = client.post("/faces/remove", data={"csrf": csrf, "name": "x" * 500})
    assert r.status_code == 400
    r = client.post(
        "/faces/enroll",
        content=b"--x\r\nContent-Disposition: form-data; name=\r\n\r\nbroken",
        headers={"content-type": "multipart/form-data; boundary=x", "x-csrf-token": csrf},
    )
    assert r.status_code == 400
    r = client.post("/faces/remove", data={"csrf": csrf, "name": "nobody"})
    assert r.status_code == 400 and "not in the gallery" in r.text
    assert identities(agent) == before


def test_uploads_are_size_limited_and_decoded_as_images_only(agent, client, caller_photo):
    csrf = csrf_of(client, "/faces")
    before = identities(agent)
    big = b"\xff\xd8" + b"0" * 300_000
    r = client.post("/faces/enroll", data={"csrf": csrf, "name": "Big"}, files={"photo": ("big.jpg", big)})
    assert r.status_code == 413 and "ui.max_upload_bytes" in r.text
    r = client.post(
        "/faces/enroll", data={"csrf": csrf, "name": "Text"}, files={"photo": ("x.jpg", b"#!/bin/sh\necho hi\n")}
    )
    assert r.status_code == 400 and "enroll" in r.text
    r = client.post("/faces/enroll", data={"csrf": csrf, "name": "NoFile"})
    assert r.status_code == 400 and "photo" in r.text
    assert identities(agent) == before


def test_a_request_from_another_host_name_is_refused(agent, client):
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 would send its own Host header."""
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400


def test_no_request_reads_a_file_it_names(agent, client):
    assert client.get("/events/..%2f..%2fetc%2fpasswd/crop.jpg").status_code == 404
    assert client.get("/static/../server.py").status_code == 404


def test_a_post_without_content_length_is_refused(agent, client):
    def chunks():
        yield b"name=caller&csrf=x"

    r = client.post("/faces/remove", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 411
    assert "caller" in identities(agent)


def test_names_and_messages_are_escaped_in_the_page(agent, client, caller_photo):
    r = client.get("/faces", params={"msg": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text
    name = '<img src=x onerror="alert(1)">'
    r = client.post(
        "/faces/enroll",
        data={"csrf": csrf_of(client), "name": name},
        files={"photo": ("p.jpg", caller_photo.read_bytes())},
    )
    assert r.status_code == 303 and name in identities(agent)
    page = client.get("/faces").text
    assert name not in page and "&lt;img src=x" in page
    r = client.post("/faces/remove", data={"csrf": csrf_of(client), "name": name})
    assert r.status_code == 303 and name not in identities(agent)


def test_pages_forbid_framing_and_inline_scripts(agent, client):
    headers = client.get("/").headers
    assert headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
