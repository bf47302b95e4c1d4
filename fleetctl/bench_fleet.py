"""`edgekit bench fleet`: (1) a gallery export of `--identities` identities pushed with `fleet push-gallery`'s path
(signed, chunked, over a real mosquitto) to `--doors` device links, each replacing its gallery: seconds per door and
throughput; (2) the `fleet ui` pages served by uvicorn over a SQLite store of `--events` events from `--devices`
devices, asked over HTTP: median milliseconds per page."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import click
import numpy as np


def gallery_push(work: Path, identities: int, dim: int, doors: int) -> dict:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge.bench.mqtt import Mosquitto
    from edge.faces.gallery import EmbedderTag, Gallery
    from edge.fleet.config import GalleryUpdateConfig, MqttConfig
    from edge.fleet.gallery_update import GalleryUpdater
    from edge.fleet.link import DeviceLink
    from edge.fleet.outbox import OutboxConfig
    from fleetctl.operator import Operator
    from fleetctl.signing import public_key_b64, sign_gallery

    key = Ed25519PrivateKey.generate()
    tag = EmbedderTag("faceres", "f" * 64, dim)
    rng = np.random.default_rng(16)
    with Gallery(work / "office.db") as g:
        for i in range(identities):
            g.add(f"person-{i:05d}", tag, rng.normal(size=dim).astype(np.float32))
        g.export(work / "office.json")
    export, begin = sign_gallery(key, work / "office.json")
    (work / "broker").mkdir()
    broker = Mosquitto(work / "broker", nodelay=True).start()
    links = []
    try:
        for d in range(doors):
            folder = work / f"door-{d}"
            cfg = MqttConfig(
                host="127.0.0.1",
                port=broker.port,
                device_id=f"door-{d}",
                outbox=OutboxConfig(path=str(folder / "outbox.db")),
                signing={"ed25519_public_keys": [public_key_b64(key)]},
            )
            updater = GalleryUpdater(GalleryUpdateConfig(public_key=public_key_b64(key)), folder / "g.db", lambda: tag)
            link = DeviceLink(cfg)
            link.on_command("gallery_update", updater.command)
            links.append(link.start())
        op = Operator(port=broker.port, sign_key=key)
        seconds = []
        try:
            for d in range(doors):  # connected is set before the broker has taken the commands subscription
                _answers(op, f"door-{d}")
            for d in range(doors):
                t = time.perf_counter()
                reply = op.push_gallery(f"door-{d}", export, begin, key)
                seconds.append(time.perf_counter() - t)
                assert reply.get("ok") and reply["result"]["identities"] == identities, reply
        finally:
            op.close()
    finally:
        for link in links:
            link.stop(0.5)
        broker.stop()
    mb = len(export) / 1e6
    return {
        "identities": identities,
        "dim": dim,
        "export_mb": round(mb, 2),
        "doors": doors,
        "seconds_per_door": round(statistics.median(seconds), 2),
        "mb_per_s": round(mb / statistics.median(seconds), 2),
    }


def _answers(op, device: str, tries: int = 20) -> None:
    from edge.errors import EdgekitError

    for _ in range(tries):
        try:
            op.command(device, "commands", timeout=1)
            return
        except EdgekitError:
            continue
    raise EdgekitError(f"bench fleet: {device} never answered", "is the machine overloaded?")


def pages(work: Path, devices: int, events: int, runs: int = 20) -> dict:
    import urllib.request

    import uvicorn

    from edge.ports import free_port, listening
    from fleetctl.store import event_row, open_store
    from fleetctl.web.server import make_app

    store = open_store(f"sqlite:///{work / 'fleet.db'}")
    now = time.time()
    for d in range(devices):
        status = {
            "state": "online" if d % 7 else "offline",
            "software": "0.1.0",
            "app": "shelf" if d % 2 else "doorbell",
        }
        store.set_status(f"dev-{d:04d}", json.dumps(status), now)
        store.add_telemetry([(f"dev-{d:04d}", now, json.dumps({"fps": 5.0, "frames": 100}))])
    kinds = ("face_unknown", "face_recognized", "count_changed", "out_of_stock")
    rows = [
        event_row(f"dev-{i % devices:04d}", {"type": kinds[i % 4], "seq": i // devices + 1, "time": now - i}, now)
        for i in range(events)
    ]
    for at in range(0, len(rows), 10_000):
        store.add_events(rows[at : at + 10_000])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(make_app(store), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    listening(port, 10)
    out = {"devices": devices, "events": events}
    try:
        for path in ("/", "/events", "/events?device=dev-0001", "/events?type=face_unknown", "/shelf", "/pushes"):
            took = []
            for _ in range(runs):
                t = time.perf_counter()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
                    r.read()
                    assert r.status == 200
                took.append((time.perf_counter() - t) * 1000)
            out[path] = round(statistics.median(took), 1)
    finally:
        server.should_exit = True
        thread.join(5)
        store.close()
    return out


@click.command()
@click.option("--identities", default=1000, show_default=True, help="identities in the pushed gallery")
@click.option("--dim", default=1024, show_default=True, help="embedding size (FaceRes: 1024)")
@click.option("--doors", default=3, show_default=True, help="device links the gallery is pushed to")
@click.option("--devices", default=1000, show_default=True, help="devices in the store behind the pages")
@click.option("--events", default=100_000, show_default=True, help="events in that store")
@click.option("--json", "as_json", is_flag=True)
def command(identities, dim, doors, devices, events, as_json):
    """Gallery push seconds per door over mosquitto; fleet ui page milliseconds over a large store."""
    work = Path(tempfile.mkdtemp(prefix="edgekit-bench-fleet-"))
    try:
        out = {"push": gallery_push(work, identities, dim, doors), "pages": pages(work, devices, events)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["machine"] = {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 1)}
    if as_json:
        click.echo(json.dumps(out))
        return
    p = out["push"]
    click.echo(
        f"gallery push: {p['identities']} identities ({p['dim']}-d, {p['export_mb']} MB export) to {p['doors']} doors: "
        f"{p['seconds_per_door']} s per door ({p['mb_per_s']} MB/s), signed chunks, gallery replaced"
    )
    g = out["pages"]
    click.echo(f"fleet ui over {g['devices']} devices / {g['events']} events (median ms per page):")
    for path, ms in g.items():
        if path.startswith("/"):
            click.echo(f"  {path:<28} {ms} ms")
