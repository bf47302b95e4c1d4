"""The shelf page's zone editor against a running shelf site (real detector, a real shelf photo as the camera): a
polygon drawn on the frame with the mouse is saved to the site's config file, the zones' other keys kept; a bad
polygon is refused naming the key, the file unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
import yaml
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.fixtures.ui import csrf_of, running_agent, shot

pytestmark = [pytest.mark.zoo, pytest.mark.shared_data]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shelf_agent(zoo, shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shelf")
    folder = tmp / "camera"
    folder.mkdir()
    shutil.copy(shared_data / "shelf" / "sku110k_sample" / "images" / "test_0.jpg", folder / "0.jpg")
    site = yaml.safe_load((ROOT / "configs" / "shelf.yaml").read_text())
    site.update(
        app="shelf",
        source={"kind": "folder", "uri": str(folder), "at_end": "loop", "pace": "realtime", "fps": 1},
        runtime={"models_dir": str(zoo)},
        events={"stdout": False},
        ui={"port": 0},
    )
    path = tmp / "site.yaml"
    path.write_text(yaml.safe_dump(site, sort_keys=False))
    with running_agent(site, config_path=path) as server:
        server.config_path = path
        yield server


def zones_in(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text())["shelf"]["zones"]


def test_a_zone_drawn_on_the_frame_is_saved_to_the_config(shelf_agent, browser):
    browser.get(shelf_agent.url + "/shelf")
    canvas = browser.find_element(By.ID, "shelf")
    WebDriverWait(browser, 120).until(lambda b: b.execute_script("return arguments[0].width", canvas) > 640)
    browser.find_element(By.ID, "zone-new").click()
    alert = browser.switch_to.alert
    alert.send_keys("endcap")
    alert.accept()
    w, h = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]", canvas)
    corners = [(-0.3, -0.3), (0.3, -0.3), (0.3, 0.3), (-0.3, 0.3)]  # offsets from the canvas centre
    for fx, fy in corners:
        ActionChains(browser).move_to_element_with_offset(canvas, int(fx * w), int(fy * h)).click().perform()
    drawn = [
        z for z in yaml.safe_load(browser.find_element(By.ID, "zones").get_attribute("value")) if z["name"] == "endcap"
    ]
    assert len(drawn) == 1 and len(drawn[0]["polygon"]) == 4
    browser.execute_script("window.scrollTo(0, 0)")
    shot(browser, "shelf")
    browser.find_element(By.ID, "zones-save").click()
    WebDriverWait(browser, 30).until(lambda b: "zones saved" in b.find_element(By.ID, "msg").text)
    zones = {z["name"]: z for z in zones_in(shelf_agent.config_path)}
    assert set(zones) == {"top", "middle", "bottom", "endcap"}
    (x1, y1), _, (x2, y2), _ = zones["endcap"]["polygon"]
    assert 0.15 < x1 < 0.25 and 0.15 < y1 < 0.25 and 0.75 < x2 < 0.85 and 0.75 < y2 < 0.85  # fractions, as the units
    assert zones["top"]["expected"] == ["bottle"] and zones["top"]["minimum"] == {"bottle": 4}  # other keys kept


def test_a_bad_polygon_is_refused_naming_the_key_and_the_file_stays(shelf_agent):
    before = shelf_agent.config_path.read_text()
    with httpx.Client(base_url=shelf_agent.url) as c:
        csrf = csrf_of(c, "/shelf")
        two_corners = '[{"name": "top", "polygon": [[0, 0], [1, 1]]}]'
        r = c.post("/shelf/zones", data={"csrf": csrf, "zones": two_corners})
        assert r.status_code == 400 and "shelf.zones.0.polygon" in r.text
        r = c.post("/shelf/zones", data={"csrf": csrf, "zones": "not json"})
        assert r.status_code == 400 and "not JSON" in r.text
        r = c.post("/shelf/zones", data={"csrf": csrf, "zones": '{"name": "x"}'})
        assert r.status_code == 400
        r = c.post("/shelf/zones", data={"zones": '[{"name": "a", "polygon": [[0, 0], [1, 0], [1, 1]]}]'})
        assert r.status_code == 403
    assert shelf_agent.config_path.read_text() == before


def test_saving_zones_keeps_the_files_comments_and_layout(shelf_agent):
    """The zone editor rewrites one key of a file a person wrote: their comments and the rest of the file stay."""
    path = shelf_agent.config_path
    original = path.read_text()
    assert "\nshelf:\n" in original
    path.write_text(
        "# aisle 7, bay 3: set up by hand, ask Ann before changing\n"
        + original.replace("\nshelf:\n", "\nshelf:  # zones are drawn on the page\n", 1)
    )
    try:
        zones = zones_in(path)
        zones[0]["polygon"] = [[10, 10], [200, 10], [200, 120], [10, 120]]
        with httpx.Client(base_url=shelf_agent.url) as c:
            r = c.post(
                "/shelf/zones",
                data={
                    "csrf": csrf_of(c, "/shelf"),
                    "zones": json.dumps([{"name": z["name"], "polygon": z["polygon"]} for z in zones]),
                },
            )
        assert r.status_code in (200, 303), r.text
        text = path.read_text()
        assert text.startswith("# aisle 7, bay 3: set up by hand, ask Ann before changing\n"), text[:200]
        assert "shelf:  # zones are drawn on the page\n" in text
        assert zones_in(path)[0]["polygon"] == [[10, 10], [200, 10], [200, 120], [10, 120]]
        assert zones_in(path)[1:] == zones[1:]  # the other zones, and their other keys, as they were
        assert yaml.safe_load(text)["source"] == yaml.safe_load(original)["source"]
    finally:
        path.write_text(original)
