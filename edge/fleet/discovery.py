"""Home Assistant MQTT discovery: retained `homeassistant/<component>/<node>/<object>/config` messages describing
the device's entities, availability from the status topic (the will makes it `offline`), re-sent when Home
Assistant announces `homeassistant/status online`. Entity values are small retained topics under `<prefix>ha/`
that the link derives from the events passing through it: person present, last seen per identity, count per zone.
With event snapshots on, a camera entity shows the latest snapshot (raw JPEG on `<prefix>snapshot/<camera>`)."""
from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timezone


def slug(s: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", s.lower()).strip("_")[:48] or "x"


class Discovery:
    def __init__(self, ha_prefix: str, device_id: str, prefix: str, info: dict, camera_topic: str | None = None):
        self.ha, self.device_id, self.prefix, self.info = ha_prefix.rstrip("/"), device_id, prefix, info
        self.camera_topic = camera_topic
        self.node = slug(device_id)
        self.status_topic = f"{self.ha}/status"
        self.present: set = set()  # open face tracks
        self.lock = threading.Lock()

    def _entity(self, component: str, obj: str, name: str, state_topic: str, **extra) -> tuple[str, dict]:
        config = {
            "name": name, "unique_id": f"edgekit_{self.node}_{obj}", "object_id": f"edgekit_{self.node}_{obj}",
            "state_topic": state_topic, "availability_topic": self.prefix + "status",
            "availability_template": "{{ value_json.state }}", "payload_available": "online", "payload_not_available": "offline",
            "device": {"identifiers": [f"edgekit_{self.node}"], "name": f"edgekit {self.device_id}", "manufacturer": "edgekit",
                       "sw_version": str(self.info.get("software", "")), "model": str(self.info.get("app", "edgekit"))},
            **extra,
        }
        return f"{self.ha}/{component}/{self.node}/{obj}/config", config

    def messages(self, state: dict) -> list[tuple[str, dict]]:
        """Every entity this device has now: the person sensor (doorbell), one per known identity, one per shelf zone."""
        out = []
        app = state.get("app", self.info.get("app"))
        if app == "doorbell" or "gallery" in state:
            out.append(self._entity("binary_sensor", "person", "Person present", self.prefix + "ha/person",
                                    device_class="occupancy", payload_on="ON", payload_off="OFF"))
            for name in state.get("gallery", {}).get("names", []):
                out.append(self._entity("sensor", f"seen_{slug(name)}", f"{name} last seen", self.prefix + f"ha/identity/{slug(name)}",
                                        device_class="timestamp"))
        if self.camera_topic:
            topic, config = self._entity("camera", "snapshot", "Snapshot", self.camera_topic)
            config["topic"] = config.pop("state_topic")  # an MQTT camera reads images from `topic`
            out.append((topic, config))
        for zone in state.get("shelf", {}).get("zones", {}):
            out.append(self._entity("sensor", f"zone_{slug(zone)}", f"{zone} count", self.prefix + f"ha/zone/{slug(zone)}",
                                    state_class="measurement", unit_of_measurement="items"))
        return out

    def publish_all(self, client, state: dict) -> None:
        for topic, config in self.messages(state):
            client.publish(topic, json.dumps(config), qos=1, retain=True)

    def values(self, event: dict) -> list[tuple[str, str]]:
        """Entity values an event changes."""
        kind, out = event.get("type"), []
        if kind in ("face_recognized", "face_unknown", "face_left"):
            with self.lock:
                before = bool(self.present)
                (self.present.discard if kind == "face_left" else self.present.add)(event.get("track_id"))
                if bool(self.present) != before:
                    out.append((self.prefix + "ha/person", "ON" if self.present else "OFF"))
        if kind == "face_recognized" and isinstance(event.get("identity"), str):
            when = datetime.fromtimestamp(float(event.get("time", 0)), timezone.utc).isoformat()
            out.append((self.prefix + f"ha/identity/{slug(event['identity'])}", when))
        if kind == "count_changed" and isinstance(event.get("zone"), str):
            out.append((self.prefix + f"ha/zone/{slug(event['zone'])}", str(event.get("total", 0))))
        return out

    def on_event(self, client, event: dict) -> None:
        for topic, value in self.values(event):
            client.publish(topic, value, qos=1, retain=True)
