"""Home Assistant MQTT discovery: retained `homeassistant/<component>/<node>/<object>/config` messages describing
the device's entities, availability from the status topic (the will makes it `offline`), re-sent when Home
Assistant announces `homeassistant/status online`. Entity values are small retained topics under `<prefix>ha/`
that the link derives from the events passing through it: person present, last seen per identity, count per zone.
With event snapshots on, a camera entity shows the latest snapshot (raw JPEG on `<prefix>snapshot/<camera>`, retained
by the link so the camera is not empty after Home Assistant restarts).

Shelf zones are announced from the retained state and from the count events themselves: a zone's first
`count_changed` publishes its sensor's config before its value (the state the site reports at start has no counts
yet), and every zone seen so far is announced again when Home Assistant comes online. The person sensor turns OFF
only after `off_delay_s` with no face track (one track ending as the next begins is no absence)."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timezone

from edge import __version__

FACE_KINDS = ("face_recognized", "face_unknown", "face_left")


def slug(s: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", s.lower()).strip("_")[:48] or "x"


class Discovery:
    def __init__(
        self,
        ha_prefix: str,
        device_id: str,
        prefix: str,
        info: dict,
        camera_topic: str | None = None,
        off_delay_s: float = 2.0,
    ):
        self.ha, self.device_id, self.prefix, self.info = ha_prefix.rstrip("/"), device_id, prefix, info
        self.camera_topic, self.off_delay_s = camera_topic, off_delay_s
        self.node = slug(device_id)
        self.status_topic = f"{self.ha}/status"
        self.present: set = set()  # open face tracks
        self.person_on = False  # what Home Assistant was last told
        self.off_timer: threading.Timer | None = None
        self.zones: list[str] = []  # shelf zones announced so far (from state or events), in the order first seen
        self.lock = threading.Lock()

    def _entity(self, component: str, obj: str, name: str, state_topic: str, **extra) -> tuple[str, dict]:
        config = {
            # object_id is deprecated (Home Assistant 2026.4 drops it); default_entity_id replaces it, with the
            # domain; versions that do not know a key ignore it, so both are sent
            "name": name,
            "unique_id": f"edgekit_{self.node}_{obj}",
            "object_id": f"edgekit_{self.node}_{obj}",
            "default_entity_id": f"{component}.edgekit_{self.node}_{obj}",
            "origin": {"name": "edgekit", "sw_version": __version__},
            "state_topic": state_topic,
            "availability_topic": self.prefix + "status",
            "availability_template": "{{ value_json.state }}",
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": {
                "identifiers": [f"edgekit_{self.node}"],
                "name": f"edgekit {self.device_id}",
                "manufacturer": "edgekit",
                "sw_version": str(self.info.get("software", "")),
                "model": str(self.info.get("app", "edgekit")),
            },
            **extra,
        }
        return f"{self.ha}/{component}/{self.node}/{obj}/config", config

    def messages(self, state: dict) -> list[tuple[str, dict]]:
        """Every entity this device has now: the person sensor (doorbell), one per known identity, one per shelf
        zone."""
        out = []
        app = state.get("app", self.info.get("app"))
        if app == "doorbell" or "gallery" in state:
            out.append(
                self._entity(
                    "binary_sensor",
                    "person",
                    "Person present",
                    self.prefix + "ha/person",
                    device_class="occupancy",
                    payload_on="ON",
                    payload_off="OFF",
                )
            )
            for name in state.get("gallery", {}).get("names", []):
                out.append(
                    self._entity(
                        "sensor",
                        f"seen_{slug(name)}",
                        f"{name} last seen",
                        self.prefix + f"ha/identity/{slug(name)}",
                        device_class="timestamp",
                    )
                )
        if self.camera_topic:
            topic, config = self._entity("camera", "snapshot", "Snapshot", self.camera_topic)
            config["topic"] = config.pop("state_topic")  # an MQTT camera reads images from `topic`
            out.append((topic, config))
        with self.lock:
            for zone in state.get("shelf", {}).get("zones", {}):
                if isinstance(zone, str) and zone not in self.zones:
                    self.zones.append(zone)
            zones = list(self.zones)
        out += [self._zone(zone) for zone in zones]
        return out

    def _zone(self, zone: str) -> tuple[str, dict]:
        return self._entity(
            "sensor",
            f"zone_{slug(zone)}",
            f"{zone} count",
            self.prefix + f"ha/zone/{slug(zone)}",
            state_class="measurement",
            unit_of_measurement="items",
        )

    def publish_all(self, client, state: dict) -> None:
        for topic, config in self.messages(state):
            client.publish(topic, json.dumps(config), qos=1, retain=True)

    def values(self, event: dict) -> list[tuple[str, str]]:
        """Entity values an event changes now (the person sensor's OFF comes later: `person_absent`)."""
        kind, out = event.get("type"), []
        if kind in FACE_KINDS:
            with self.lock:
                (self.present.discard if kind == "face_left" else self.present.add)(event.get("track_id"))
                if self.present and self.off_timer is not None:  # the next track began within the hold: no OFF
                    self.off_timer.cancel()
                    self.off_timer = None
                if self.present and not self.person_on:
                    self.person_on = True
                    out.append((self.prefix + "ha/person", "ON"))
        if kind == "face_recognized" and isinstance(event.get("identity"), str):
            when = datetime.fromtimestamp(float(event.get("time", 0)), timezone.utc).isoformat()
            out.append((self.prefix + f"ha/identity/{slug(event['identity'])}", when))
        if kind == "count_changed" and isinstance(event.get("zone"), str):
            out.append((self.prefix + f"ha/zone/{slug(event['zone'])}", str(event.get("total", 0))))
        return out

    def new_zone(self, event: dict) -> tuple[str, dict] | None:
        """The config of a zone this event names for the first time (announced before its value)."""
        zone = event.get("zone")
        if event.get("type") != "count_changed" or not isinstance(zone, str):
            return None
        with self.lock:
            if zone in self.zones:
                return None
            self.zones.append(zone)
        return self._zone(zone)

    def person_absent(self) -> bool:
        """True once, when the last face track has ended and OFF is due (after the hold)."""
        with self.lock:
            if self.present or not self.person_on:
                return False
            self.person_on = False
            return True

    def on_event(self, client, event: dict) -> None:
        config = self.new_zone(event)
        if config is not None:
            client.publish(config[0], json.dumps(config[1]), qos=1, retain=True)
        for topic, value in self.values(event):
            client.publish(topic, value, qos=1, retain=True)
        if event.get("type") == "face_left":
            self._hold_off(client)

    def _hold_off(self, client) -> None:
        def off():
            with self.lock:
                self.off_timer = None
            if self.person_absent():
                client.publish(self.prefix + "ha/person", "OFF", qos=1, retain=True)

        with self.lock:
            if self.present or not self.person_on or self.off_timer is not None:
                return
            if self.off_delay_s <= 0:
                self.off_timer = None
            else:
                self.off_timer = threading.Timer(self.off_delay_s, off)
                self.off_timer.daemon = True
                self.off_timer.start()
                return
        off()

    def close(self) -> None:
        with self.lock:
            if self.off_timer is not None:
                self.off_timer.cancel()
