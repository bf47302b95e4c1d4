"""A site: the configured loop (edge.agent) with the optional parts its config switches on: the MQTT link (edge.io),
serial peripherals (edge.peripherals) and the systemd notify protocol (edge.service), shut down in order on SIGTERM
or at the end of a file."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import cv2
import numpy as np

from edge.agent import AGENTS, DoorbellAgent, Loop, ShelfAgent
from edge.config import SiteConfig
from edge.events import EventSink, FanoutSink, JsonLinesSink
from edge.faces.gallery import Gallery


class LockedSink:
    """Serialises emits: peripherals' reader threads and the loop share one sink (and one stdout)."""

    def __init__(self, sink: EventSink):
        self.sink, self._lock = sink, threading.Lock()

    def emit(self, event: dict) -> None:
        with self._lock:
            self.sink.emit(event)

    def close(self) -> None:
        with self._lock:
            self.sink.close()


def local_sinks(cfg: SiteConfig, stream=None) -> list[EventSink]:
    sinks = []
    if cfg.events.stdout:
        sinks.append(JsonLinesSink(stream=stream or sys.stdout))
    if cfg.events.file:
        path = Path(cfg.events.file).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        sinks.append(JsonLinesSink(path=path))
    return sinks


def reported_state(cfg: SiteConfig, agent: Loop) -> dict:
    """The retained `state`: what this device runs (config without secrets) and the app's summary (gallery, shelf)."""
    from edge.capture.urls import mask_url

    config = cfg.model_dump(mode="json")
    config["source"]["uri"] = mask_url(config["source"]["uri"])  # camera credentials stay on the device
    if config.get("mqtt"):
        config["mqtt"].pop("password", None)
    state = {"app": cfg.app, "config": config, "models": agent.model_versions()}
    if isinstance(agent, DoorbellAgent):
        identities = Gallery(agent.gallery.path).identities(agent.embedder.name)  # own connection: any thread may call
        state["gallery"] = {"identities": len(identities), "names": sorted(identities)[:200]}
    elif isinstance(agent, ShelfAgent):
        state["shelf"] = agent.app.shelf.state()
    return state


def add_commands(link, cfg: SiteConfig, agent: Loop) -> None:
    """The loop's own commands. Each runs on the MQTT client's thread and opens its own gallery connection (SQLite
    connections stay in their thread); the loop sees gallery changes through SQLite's data_version."""

    def identities(body: dict) -> dict:
        return {"identities": Gallery(agent.gallery.path).identities(agent.embedder.name)}

    def remove_identity(body: dict) -> dict:
        name = body["name"]
        if not isinstance(name, str) or not name.strip():
            raise ValueError("'name' must be a non-empty string")
        removed = Gallery(agent.gallery.path).remove(name)
        if not removed:
            from edge.errors import EdgekitError

            raise EdgekitError(f"identity {name!r} is not in the gallery", "send `identities` to list them")
        link.set_state(reported_state(agent.cfg, agent))
        return {"removed": removed}

    def stats(body: dict) -> dict:
        return agent.telemetry()

    def enroll(body: dict) -> dict:
        """{"name": "Ann", "image": base64 JPEG/PNG} (the link bounds the payload size)."""
        import base64
        import binascii

        from edge.errors import EdgekitError

        name, data = body["name"], body["image"]
        if not isinstance(name, str) or not name.strip() or not isinstance(data, str):
            raise ValueError("'name' must be a non-empty string and 'image' a base64 string")
        try:
            raw = np.frombuffer(base64.b64decode(data, validate=True), np.uint8)
        except (binascii.Error, ValueError):
            raise EdgekitError("enroll: 'image' is not valid base64", "send the JPEG/PNG file's bytes, base64-encoded") from None
        image = cv2.imdecode(raw, cv2.IMREAD_COLOR) if raw.size else None
        if image is None:
            raise EdgekitError("enroll: 'image' is not a JPEG/PNG picture OpenCV can decode", "send a JPEG or PNG")
        added = agent.enroll(name.strip(), image, source="mqtt")
        link.set_state(reported_state(agent.cfg, agent))
        return {"enrolled": name.strip(), "embeddings": added}

    def get_config(body: dict) -> dict:
        return reported_state(agent.cfg, agent)["config"]

    def set_config(body: dict) -> dict:
        result = agent.reconfigure(body.get("config"))
        link.set_state(reported_state(agent.cfg, agent))
        return result

    def restart(body: dict) -> dict:
        """Restart the agent: stop gracefully (events flushed), then start afresh, re-reading config, models and gallery."""
        agent.request_restart()
        return {"restarting": True}

    commands = {"stats": stats, "get_config": get_config, "set_config": set_config, "restart": restart}
    if isinstance(agent, DoorbellAgent):
        commands.update(identities=identities, remove_identity=remove_identity, enroll=enroll)
    if isinstance(agent, ShelfAgent):
        commands["shelf_state"] = lambda body: agent.app.shelf.state()
    for name, handler in commands.items():
        if name not in link.handlers:  # the MQTT part may register richer versions of its own
            link.on_command(name, handler)


def attach_link(link, cfg: SiteConfig, agent: Loop) -> None:
    """What the MQTT link needs from the loop: telemetry, the loop's commands, snapshots of its latest frame, and
    model updates taken into the running app (status and state then report the new versions)."""
    from edge.io.snapshots import Snapshots

    link.set_info(models=agent.model_versions())
    link.set_telemetry(agent.telemetry)
    add_commands(link, cfg, agent)
    snapshots = Snapshots(cfg.mqtt.snapshots, link, lambda: agent.latest)
    link.on_command("snapshot", snapshots.command)
    if cfg.mqtt.snapshots.on_events:
        agent.snapshots = snapshots
    updater = link.model_updates
    if updater is not None:
        def swapped(name: str, card_path: Path) -> None:
            if agent.reload_model(name, card_path):
                link.set_info(models=agent.model_versions())
                link.set_state(reported_state(agent.cfg, agent))

        updater.on_swapped, updater.accelerator = swapped, cfg.runtime.accelerator
        updater.live_frames = lambda: [agent.latest[0]] if agent.latest is not None else []


def site_mqtt(cfg: SiteConfig):
    """The site's MQTT settings, with model updates going to the models dir the loop runs from."""
    mu = cfg.mqtt.model_update
    if mu.models_dir:
        return cfg.mqtt
    return cfg.mqtt.model_copy(update={"model_update": mu.model_copy(update={"models_dir": str(cfg.models_dir())})})


def run_site(cfg: SiteConfig, max_frames: int | None = None, stream=None, install_signals: bool = True) -> dict:
    """Run the configured app (doorbell or shelf) with every configured part; returns the run's stats (with
    `restart_requested` when the `restart` command stopped it). SIGTERM/SIGINT stop it gracefully: capture stops,
    tracks end (face_left), events flush to the outbox, the broker hears `offline`, systemd STOPPING."""
    from edge.service import GracefulStop, Notifier

    notifier = Notifier()
    sinks = local_sinks(cfg, stream)
    link = None
    if cfg.mqtt is not None:
        from edge.io.link import DeviceLink

        link = DeviceLink(site_mqtt(cfg), cfg.device_id, {"app": cfg.app, "accelerator": cfg.runtime.accelerator.type})
        sinks.append(link.sink)
    sink = LockedSink(FanoutSink(*sinks))
    peripherals = None
    if cfg.peripherals is not None:
        from edge.peripherals import Peripherals

        peripherals = Peripherals(cfg.peripherals, emit=sink.emit)
    agent = AGENTS[cfg.app](cfg, sink, peripherals=peripherals, notifier=notifier)
    stop = GracefulStop(on_stop=[agent.stop]).install() if install_signals else None
    try:
        if link is not None:
            attach_link(link, cfg, agent)
            link.start()
            link.set_state(reported_state(cfg, agent))
        if peripherals is not None:
            peripherals.start()
            for port in peripherals.ports.values():  # a door strike should be live before the first face arrives
                port.wait_open(2.0)
        stats = agent.run(max_frames)
    finally:
        notifier.stopping("stopping: flushing events")
        if peripherals is not None:
            peripherals.stop()
        if link is not None:
            link.stop()
        sink.close()
        notifier.close()
        if stop is not None:
            stop.restore()
    return {**stats, "restart_requested": agent.restart_requested}
