"""The device page behind a password (and a token): nothing but the login page without it, a wrong password refused,
the session cookie HttpOnly and SameSite=Strict, logout ends it; a script may use the token as a bearer."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from edge.web.security import hash_password, new_token
from tests.fixtures.doorbell import live_camera, site
from tests.fixtures.ui import csrf_of, running_agent, shot

pytestmark = pytest.mark.zoo
TOKEN, TOKEN_SHA256 = new_token()


@pytest.fixture(scope="module")
def agent(zoo, media, gallery, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agent")
    ui = {"port": 0, "password_hash": hash_password("s3cret door"), "token_sha256": TOKEN_SHA256}
    config = site(zoo, media, tmp / "gallery.db", tmp, ui=ui)
    config["source"] = live_camera(media)
    with running_agent(config) as server:
        yield server


def test_without_login_only_the_login_page_answers(agent):
    with httpx.Client(base_url=agent.url) as c:
        r = c.get("/faces")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert c.get("/api/live").status_code == 401
        assert c.get("/live.jpg").status_code == 303
        assert c.post("/faces/remove", data={"name": "caller"}).status_code == 401
        assert c.get("/login").status_code == 200


def test_a_wrong_password_is_refused(agent):
    with httpx.Client(base_url=agent.url) as c:
        r = c.post("/login", data={"password": "guess"})
        assert r.status_code == 401 and "wrong password" in r.text and "set-cookie" not in r.headers
        assert c.get("/api/live").status_code == 401


def test_the_password_logs_in_and_logout_ends_the_session(agent):
    with httpx.Client(base_url=agent.url) as c:
        r = c.post("/login", data={"password": "s3cret door", "next": "//evil.example/"})
        assert r.status_code == 303 and r.headers["location"] == "/"  # never off-site
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert c.get("/api/live").status_code == 200
        csrf = csrf_of(c)
        assert c.post("/logout", data={"csrf": csrf}).status_code == 303
        assert c.get("/api/live").status_code == 401


def test_the_token_works_as_a_password_and_as_a_bearer(agent):
    with httpx.Client(base_url=agent.url) as c:
        assert c.get("/api/live", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.get("/api/live", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/login", data={"password": TOKEN}).status_code == 303


def test_a_browser_logs_in_through_the_form(agent, browser):
    browser.get(agent.url + "/faces")
    browser.find_element(By.ID, "password").send_keys("wrong")
    browser.find_element(By.ID, "login").click()
    assert "wrong password" in browser.find_element(By.ID, "error").text
    shot(browser, "login")
    browser.find_element(By.ID, "password").send_keys("s3cret door")
    browser.find_element(By.ID, "login").click()
    WebDriverWait(browser, 30).until(lambda b: b.current_url.endswith("/faces"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Faces"


def test_a_port_in_use_is_one_line_naming_the_key(agent, zoo, media, tmp_path):
    from urllib.parse import urlparse

    from edge.errors import EdgekitError

    port = urlparse(agent.url).port
    config = site(zoo, media, tmp_path / "gallery.db", tmp_path, ui={"port": port})
    with pytest.raises(EdgekitError, match=rf"ui: cannot serve on 127\.0\.0\.1:{port}.*ui\.port"):
        with running_agent(config):
            pass
