"""A site: the frame loop (edge.loop) running the configured app, with the parts its config switches on: the event
bus and its sinks (edge.events), the MQTT link (edge.fleet), serial peripherals (edge.peripherals) and the systemd
notify protocol (edge.service), each handed to the parts that use it when they are built, and shut down in order on
SIGTERM or at the end of a file."""

from __future__ import annotations

import sys

from edge.apps.base import Command
from edge.config import SiteConfig
from edge.events import EventBus, EventSink, JsonLinesSink
from edge.events.crops import CropWriter
from edge.loop import FrameLoop
from edge.loop.frames import LatestFrame


def local_sinks(cfg: SiteConfig, stream=None) -> list[EventSink]:
    sinks = []
    if cfg.events.stdout:
        sinks.append(JsonLinesSink(stream=stream or sys.stdout))
    if cfg.events.file:
        sinks.append(JsonLinesSink(path=cfg.events.file, max_bytes=cfg.events.max_bytes, keep=cfg.events.keep_files))
    return sinks


def build_loop(
    cfg: SiteConfig,
    sinks: list[EventSink],
    capture=None,
    peripherals=None,
    notifier=None,
    snapshots=None,
    latest: LatestFrame | None = None,
) -> FrameLoop:
    """The bus (position, crop and snapshot enrichers; the relay watching) and the loop with the configured app."""
    enrichers, watchers = [], []
    if peripherals is not None:
        enrichers.append(peripherals.annotate)
        watchers.append(peripherals.on_event)  # the relay decides on face events before any sink sees them
    enrichers.append(CropWriter(cfg.events.crops_dir, cfg.events.crops_keep).enrich)
    if snapshots is not None and cfg.mqtt.snapshots.on_events:
        enrichers.append(snapshots.enrich)
    bus = EventBus(sinks, enrichers, watchers)
    return FrameLoop(cfg, bus, capture, peripherals, notifier, latest)


def reported_state(loop: FrameLoop) -> dict:
    """The retained `state`: what this device runs (config without secrets, as the app applies it: thresholds
    filled from the embedder's card) and the app's summary."""
    from edge.capture.urls import mask_url

    cfg = loop.app.cfg
    config = cfg.model_dump(mode="json")
    config["source"]["uri"] = mask_url(config["source"]["uri"])  # camera credentials stay on the device
    if config.get("mqtt"):
        config["mqtt"].pop("password", None)
    if config.get("ui"):
        config["ui"].pop("password_hash", None)
        config["ui"].pop("token_sha256", None)
    return {"app": cfg.app, "config": config, "models": loop.model_versions(), **loop.app.state()}


def loop_commands(link, loop: FrameLoop, snapshots) -> dict:
    """The loop's own commands and the app's: what MQTT runs (on the link's command thread) and what the web page
    runs (edge.web). `link` and `snapshots` are None on a site without MQTT."""

    def set_config(body: dict) -> dict:
        result = loop.reconfigure(body.get("config"))
        if link is not None:
            link.refresh_state()
        return result

    def restart(body: dict) -> dict:
        """Stop gracefully (events flushed), then start afresh, re-reading config, models and gallery."""
        loop.request_restart()
        return {"restarting": True}

    commands = {
        "stats": lambda body: loop.telemetry(),
        "get_config": lambda body: reported_state(loop)["config"],
        "set_config": set_config,
        "restart": restart,
    }
    if snapshots is not None:
        commands["snapshot"] = snapshots.command
    for name, command in loop.app.commands().items():
        refresh = command.changes_state and link is not None
        commands[name] = _refreshing(link, command) if refresh else command.handler
    return commands


def read_only_commands(loop: FrameLoop) -> frozenset[str]:
    """The commands that change nothing (`mqtt.signing.unsigned_read_only` answers them unsigned); every other one
    runs only when signed."""
    return frozenset({"stats", "get_config", "snapshot"} | {n for n, c in loop.app.commands().items() if c.read_only})


def _refreshing(link, command: Command):
    def run(body: dict) -> dict:
        try:
            return command.handler(body)
        finally:  # a refusal can change the state too (a gallery push's outcome)
            if command.changes_state_on is None or command.changes_state_on(body):
                link.refresh_state()

    return run


def _refresh_on_visits(link):
    """A face clustered into an unknown visitor changes the app's retained state (its unknowns summary): re-publish
    it then, not only after commands."""

    def watch(data: dict) -> None:
        if data.get("type") == "face_unknown" and data.get("visitor"):
            link.refresh_state()

    return watch


def site_mqtt(cfg: SiteConfig):
    """The site's MQTT settings, with model updates going to the models dir the loop runs from."""
    mu = cfg.mqtt.model_update
    if mu.models_dir:
        return cfg.mqtt
    return cfg.mqtt.model_copy(update={"model_update": mu.model_copy(update={"models_dir": str(cfg.models_dir())})})


def run_site(
    cfg: SiteConfig,
    max_frames: int | None = None,
    stream=None,
    install_signals: bool = True,
    config_path=None,
    on_ui=None,
) -> dict:
    """Run the configured app with every configured part; returns the run's stats (with `restart_requested` when
    the `restart` command stopped it). SIGTERM/SIGINT stop it gracefully: capture stops, tracks end (face_left),
    events flush to the outbox, the broker hears `offline`, systemd STOPPING. With `ui:` the web page runs beside
    it (edge.web; `config_path` is the file its zone editor saves to; `on_ui(server)` is told its address)."""
    from edge.service import GracefulStop, Notifier

    notifier = Notifier()
    sinks = local_sinks(cfg, stream)
    latest = LatestFrame()
    link = snapshots = peripherals = None
    if cfg.mqtt is not None:
        from edge.fleet.link import DeviceLink
        from edge.fleet.snapshots import Snapshots

        link = DeviceLink(site_mqtt(cfg), cfg.device_id, {"app": cfg.app, "accelerator": cfg.runtime.accelerator.type})
        sinks.append(link.sink)
        snapshots = Snapshots(cfg.mqtt.snapshots, link, latest.get)
    if cfg.peripherals is not None:
        from edge.peripherals import Peripherals

        peripherals = Peripherals(cfg.peripherals)
    events = None
    if cfg.ui is not None:
        from edge.web.view import EventLog

        events = EventLog(cfg.ui.events_kept)
        sinks.append(events)
    loop = build_loop(cfg, sinks, None, peripherals, notifier, snapshots, latest)
    ui = None
    stop = GracefulStop(on_stop=[loop.stop]).install() if install_signals else None
    try:
        if events is not None:
            from edge.web.server import start_ui

            ui = start_ui(cfg.ui, loop, loop_commands(link, loop, snapshots), events, link, config_path)
            if on_ui is not None:
                on_ui(ui)
        if link is not None:
            from edge.fleet.link import Device

            loop.probation.on_rolled_back = lambda name: link.models_changed()
            link.start(
                Device(
                    telemetry=loop.telemetry,
                    state=lambda: reported_state(loop),
                    model_versions=loop.model_versions,
                    reload_model=loop.reload_model,
                    live_frames=latest.images,
                    commands=loop_commands(link, loop, snapshots),
                    read_only=read_only_commands(loop),
                    accelerator=cfg.runtime.accelerator,
                )
            )
            loop.bus.watchers.append(_refresh_on_visits(link))
        if peripherals is not None:
            peripherals.start(loop.bus.emit)
            for port in peripherals.ports.values():  # a door strike should be live before the first face arrives
                port.wait_open(2.0)
        stats = loop.run(max_frames)
    finally:
        notifier.stopping("stopping: flushing events")
        if ui is not None:
            ui.stop()
        if peripherals is not None:
            peripherals.stop()
        if link is not None:
            link.stop()
        loop.bus.close()
        notifier.close()
        if stop is not None:
            stop.restore()
    return {**stats, "restart_requested": loop.restart_requested}
