"""Home Assistant discovery fixes, on a real mosquitto: the shelf app's zone sensors are announced (from its count
events, and again when Home Assistant comes online), every config carries `default_entity_id` beside the deprecated
`object_id` and an `origin` block, the person sensor does not flap OFF/ON between one track and the next, and
snapshots are retained so the camera is not empty after a Home Assistant restart. (No real Home Assistant runs here.)"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from edge.fleet.config import DiscoveryConfig, SnapshotConfig
from edge.fleet.link import DeviceLink
from tests.fixtures.mqtt import Consumer, link_cfg

ROOT = Path(__file__).resolve().parents[1]


def _ha_online(port: int) -> None:
    ha = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ha-{time.time_ns()}")
    ha.connect("127.0.0.1", port)
    ha.loop_start()
    ha.publish("homeassistant/status", "online", qos=1).wait_for_publish(2)
    ha.loop_stop()
    ha.disconnect()


def _configs(consumer: Consumer) -> dict:
    with consumer.lock:
        return {t: b for t, b, _ in consumer.messages if t.endswith("/config")}


def test_shelf_zones_are_announced_from_count_events_and_again_when_home_assistant_comes_online(broker, tmp_path):
    link = DeviceLink(
        link_cfg(broker.port, tmp_path, discovery=DiscoveryConfig(enabled=True)), "shelf7", {"app": "shelf"}
    )
    link.start()
    try:
        assert link.connected.wait(5)
        link.set_state({"app": "shelf", "shelf": {"zones": {}}})  # what run_site reports before the first frame
        ha = Consumer(broker.port, "homeassistant/#")
        link.sink.emit({"type": "count_changed", "zone": "top", "counts": {"item": 4}, "previous": None, "total": 4})
        link.sink.emit({"type": "count_changed", "zone": "middle row", "counts": {}, "previous": None, "total": 0})
        zone = "homeassistant/sensor/shelf7/zone_top/config"
        assert ha.wait(lambda: {zone, "homeassistant/sensor/shelf7/zone_middle_row/config"} <= set(_configs(ha)))
        assert _configs(ha)[zone]["state_topic"] == "edgekit/shelf7/ha/zone/top"
        values = Consumer(broker.port, "edgekit/shelf7/ha/zone/#")  # retained: a late subscriber has them
        assert values.wait(lambda: len(values.messages) >= 2)
        assert dict((t.rsplit("/", 1)[1], b) for t, b, _ in values.messages) == {"top": 4, "middle_row": 0}
        n = len(ha.on(zone))
        _ha_online(broker.port)  # Home Assistant restarted: the zones seen so far are announced again
        assert ha.wait(lambda: len(ha.on(zone)) > n)
        values.close()
        ha.close()
    finally:
        link.stop()


def test_every_config_has_default_entity_id_and_origin(broker, tmp_path):
    cfg = link_cfg(
        broker.port,
        tmp_path,
        discovery=DiscoveryConfig(enabled=True),
        snapshots=SnapshotConfig(camera="porch", on_events=["face_unknown"]),
    )
    link = DeviceLink(cfg, "door21", {"app": "doorbell"}).start()
    try:
        assert link.connected.wait(5)
        link.set_state({"app": "doorbell", "gallery": {"names": ["Ann"]}})
        ha = Consumer(broker.port, "homeassistant/#")
        assert ha.wait(lambda: len(_configs(ha)) >= 3)
        for topic, config in _configs(ha).items():
            component, obj = topic.split("/")[1], topic.split("/")[3]
            assert config["default_entity_id"] == f"{component}.edgekit_door21_{obj}", topic
            assert config["object_id"] == f"edgekit_door21_{obj}"  # still sent for versions before 2025.10
            assert config["origin"]["name"] == "edgekit" and config["origin"]["sw_version"]
        ha.close()
    finally:
        link.stop()


def test_person_sensor_holds_off_between_one_track_and_the_next(broker, tmp_path):
    cfg = link_cfg(broker.port, tmp_path, discovery=DiscoveryConfig(enabled=True, person_off_delay_s=0.5))
    link = DeviceLink(cfg, "door22", {"app": "doorbell"}).start()
    try:
        assert link.connected.wait(5)
        person = Consumer(broker.port, "edgekit/door22/ha/person")
        link.sink.emit({"type": "face_unknown", "track_id": 1})
        link.sink.emit({"type": "face_left", "track_id": 1})
        link.sink.emit({"type": "face_unknown", "track_id": 2})  # the next track, ms later: no OFF/ON
        time.sleep(1.0)
        assert [b for b, _ in person.on("/person")] == ["ON"]
        link.sink.emit({"type": "face_left", "track_id": 2})
        left = time.time()
        assert person.wait(lambda: len(person.on("/person")) == 2, 5)
        assert time.time() - left >= 0.45  # OFF held for the delay
        assert [b for b, _ in person.on("/person")] == ["ON", "OFF"]
        person.close()
    finally:
        link.stop()


def test_snapshots_are_retained_for_a_camera_that_subscribes_later(broker, tmp_path):
    cfg = link_cfg(
        broker.port, tmp_path, discovery=DiscoveryConfig(enabled=True), snapshots=SnapshotConfig(camera="porch")
    )
    link = DeviceLink(cfg, "door23").start()
    try:
        assert link.connected.wait(5)
        jpeg = b"\xff\xd8\xff\xe0" + b"x" * 1000 + b"\xff\xd9"
        assert link.publish_snapshot("porch", jpeg)
        time.sleep(0.3)
        camera = Consumer(broker.port, "edgekit/door23/snapshot/#")  # Home Assistant after a restart
        assert camera.wait(lambda: camera.raw, 5)
        assert camera.raw[0] == ("edgekit/door23/snapshot/porch", jpeg) and camera.messages[0][2] is True
        camera.close()
    finally:
        link.stop()


@pytest.mark.shared_data
@pytest.mark.zoo
def test_a_shelf_site_run_leaves_its_zone_sensors_announced(zoo, shared_data, broker, tmp_path):
    from edge.config import parse_config
    from edge.site import run_site

    photo = shared_data / "shelf" / "sku110k_sample" / "images" / "test_0.jpg"
    folder = tmp_path / "camera"
    folder.mkdir()
    for i in range(8):
        shutil.copy(photo, folder / f"{i}.jpg")
    site = yaml.safe_load((ROOT / "configs" / "shelf.yaml").read_text())
    site.update(
        app="shelf",
        device_id="shelf9",
        source={"kind": "folder", "uri": str(folder)},
        runtime={"models_dir": str(zoo)},
        events={"stdout": False, "file": str(tmp_path / "events.jsonl")},
        mqtt={
            "host": "127.0.0.1",
            "port": broker.port,
            "discovery": {"enabled": True},
            "outbox": {"path": str(tmp_path / "outbox.db")},
        },
    )
    run_site(parse_config(site), install_signals=False)
    ha = Consumer(broker.port, "homeassistant/sensor/shelf9/#")  # retained, as Home Assistant reads them on start
    zones = [z["name"] for z in site["shelf"]["zones"]]
    want = {f"homeassistant/sensor/shelf9/zone_{z}/config" for z in zones}
    assert ha.wait(lambda: want <= set(_configs(ha)), 10), sorted(_configs(ha))
    ha.close()
