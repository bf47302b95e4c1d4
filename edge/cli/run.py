"""`edgekit run --config site.yaml`: the device loop with the parts the site config switches on."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from edge.config import load_config


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(), help="site YAML (see configs/doorbell.yaml)")
@click.option(
    "--source",
    "source_uri",
    default=None,
    help="try the site on another source: a video file, a folder of images, a device index or a URL",
)
@click.option("--max-frames", type=int, default=None, help="stop after this many processed frames")
def run(config_path, source_uri, max_frames):
    """Run the configured app (doorbell or shelf) on the configured source. Events go to stdout/file as JSON lines
    (and MQTT, if configured); SIGTERM or Ctrl-C stops it gracefully. A summary line goes to stderr at the end."""
    cfg = load_config(config_path)
    if source_uri is not None:
        kind = "folder" if Path(source_uri).is_dir() else "opencv"
        cfg = cfg.model_copy(update={"source": cfg.source.model_copy(update={"kind": kind, "uri": source_uri})})
    cfg.check_outputs()
    try:
        stats = _start(cfg, max_frames, config_path)
    except Exception as e:  # noqa: BLE001 - whatever a freshly updated model broke, the last good one may fix
        if not _roll_back(cfg, e):
            raise
        stats = _start(cfg, max_frames, config_path)
    if stats["frames"]:
        _confirm(cfg)
    click.echo(json.dumps({"type": "run_summary", **stats}), err=True)
    if stats.get("source_failed"):  # systemd's Restart=on-failure restarts only a process that fails
        from edge.errors import SourceFailed

        raise SourceFailed(
            f"source {cfg.source.uri}: {stats['source_failed']}",
            "check the camera/URL; the service manager restarts edgekit",
        )
    if stats["restart_requested"]:
        restart()


def _start(cfg, max_frames, config_path=None):
    from edge.site import run_site

    cfg.check_models()
    _check_gallery(cfg)
    return run_site(cfg, max_frames, config_path=Path(config_path))


def _roll_back(cfg, error: Exception) -> bool:
    """Start-up failed: put back the last good build of every model still on probation after an update (a device
    that restarted on a bad model must not stay down). Each one is an event on stdout and a line on stderr."""
    from edge.runtime.lastgood import LastGood

    last_good = LastGood(cfg.models_dir())
    rolled = [name for name in last_good.on_probation() if last_good.roll_back(name)]
    reason = str(error).splitlines()[0][:300] if str(error) else error.__class__.__name__
    for name in rolled:
        if cfg.events.stdout:
            click.echo(json.dumps(rolled_back_event(name, reason)))
        click.echo(
            f"note: model {name} rolled back to its last good build: the loop failed to start with the "
            f"update ({reason})",
            err=True,
        )
    return bool(rolled)


def rolled_back_event(name: str, reason: str) -> dict:
    """The start-up rollback as the sinks would have it (the loop's bus is not built yet)."""
    import time

    try:
        from edge.events.types import ModelRolledBack
    except ImportError:  # before typed events
        return {"type": "model_rolled_back", "time": time.time(), "model": name, "at": "start-up", "reason": reason}
    return ModelRolledBack(model=name, at="start-up", reason=reason, time=time.time()).to_json()


def _confirm(cfg) -> None:
    """The loop ran on its models: updated ones are off probation, their old builds let go."""
    from edge.runtime.lastgood import LastGood

    last_good = LastGood(cfg.models_dir())
    for name in last_good.on_probation():
        last_good.release(name)


def _check_gallery(cfg) -> None:
    """A doorbell whose gallery holds only another embedder's vectors would call everyone unknown (or fail at the
    first face on vectors of another size): refused in one line; vectors left out are noted in one line."""
    if cfg.app != "doorbell":
        return
    from edge.card import load_card
    from edge.faces.gallery import EmbedderTag, Gallery

    gallery = Gallery(Path(cfg.gallery.path).expanduser())
    try:
        card = load_card(cfg.card(cfg.embedder.model), verify=False)
        note = gallery.check_fits(EmbedderTag.of_card(card, cfg.embedder.align))
    finally:
        gallery.close()
    if note:
        click.echo(note, err=True)


def restart() -> None:
    """The `restart` command: everything is flushed and closed by now; start afresh in this process. Same PID, so
    under systemd the service stays up (the new run sends READY again; the watchdog keeps being petted)."""
    click.echo(json.dumps({"type": "restarting"}), err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "edge.cli", *sys.argv[1:]])
