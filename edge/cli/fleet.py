"""`edgekit fleet ...`: the operator's side: ls (devices from retained status), watch (events live), cmd (send a
command, print its reply), push-model / push-gallery (sign and send a model or a gallery, per-device progress and
outcome), keygen; the fleet store: ingest, events, gaps, ui."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from edge.errors import EdgekitError


def _broker_options(f):
    for opt in reversed(
        [
            click.option("--host", default="127.0.0.1", show_default=True, envvar="EDGEKIT_MQTT_HOST"),
            click.option("--port", default=1883, show_default=True, type=int, envvar="EDGEKIT_MQTT_PORT"),
            click.option(
                "--root",
                default="edgekit",
                show_default=True,
                help="topic root (the devices' prefix without the device id)",
            ),
            click.option("--username", envvar="EDGEKIT_MQTT_USERNAME"),
            click.option("--password", envvar="EDGEKIT_MQTT_PASSWORD"),
            click.option(
                "--ca", "ca_file", type=click.Path(exists=True, dir_okay=False), help="CA file: connect with TLS"
            ),
            click.option(
                "--cert",
                "cert_file",
                type=click.Path(exists=True, dir_okay=False),
                help="client certificate (mutual TLS)",
            ),
            click.option(
                "--cert-key", "key_file", type=click.Path(exists=True, dir_okay=False), help="client certificate's key"
            ),
            click.option(
                "--sign",
                "sign_file",
                type=click.Path(dir_okay=False),
                help="Ed25519 key (from `fleet keygen`) to sign commands with",
            ),
        ]
    ):
        f = opt(f)
    return f


def _operator(o: dict):
    from fleetctl.operator import Operator
    from fleetctl.signing import load_private_key

    key = load_private_key(o.pop("sign_file")) if o.get("sign_file") else None
    return Operator(
        sign_key=key,
        **{k: o[k] for k in ("host", "port", "root", "username", "password", "ca_file", "cert_file", "key_file")},
    )


@click.group()
def fleet():
    """Operate devices over MQTT: ls, watch, cmd, push-model, push-gallery, keygen; the fleet store: ingest, events,
    gaps, ui."""


@fleet.command("ls")
@_broker_options
@click.option("--wait", default=1.0, show_default=True, help="seconds to listen for status and telemetry")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per device")
def ls(wait, as_json, **o):
    """Devices from their retained status: online/offline, software, last telemetry."""
    op = _operator(o)
    try:
        devices = op.devices(wait)
    finally:
        op.close()
    if not devices:
        click.echo(f"no devices under {o['root']}/ (none has connected to this broker yet)", err=True)
    for name, d in sorted(devices.items()):
        if as_json:
            click.echo(json.dumps({"device": name, **d}))
            continue
        s, t = d.get("status", {}), d.get("telemetry")
        tel = (
            (
                f"fps={t.get('fps', '-')} outbox={t.get('outbox_depth', '-')} dropped={t.get('messages_dropped', '-')} "
                f"({time.time() - t.get('time', time.time()):.0f} s ago)"
            )
            if t
            else "no telemetry yet"
        )
        unsigned = "  ALLOWS UNSIGNED COMMANDS" if s.get("allow_unsigned") else ""
        click.echo(
            f"{name:<20} {s.get('state', '?'):<8} {s.get('app', '-'):<9} v{s.get('software', '?'):<8} {tel}{unsigned}"
        )


@fleet.command()
@_broker_options
@click.argument("device", default="+")
@click.option("--count", type=int, default=0, help="stop after N events (0: run until Ctrl-C)")
@click.option("--seconds", type=float, default=0, help="stop after this many seconds (0: no limit)")
def watch(device, count, seconds, **o):
    """Print events live as JSON lines (all devices, or DEVICE); a repeat of an event already shown (same device and
    seq, as QoS 1 redelivery after an outage can bring) is dropped."""
    import queue

    from fleetctl.operator import Repeats

    repeats = Repeats()
    op = _operator(o)
    q: queue.SimpleQueue = queue.SimpleQueue()
    op.listeners.append(q.put)
    op.c.subscribe(f"{op.root}/{device}/events/#", qos=1)
    n, end = 0, time.time() + seconds if seconds else float("inf")
    try:
        while (not count or n < count) and time.time() < end:
            try:
                msg = q.get(timeout=0.2)
            except queue.Empty:
                continue
            if repeats.seen(msg.topic, msg.payload):
                continue
            click.echo(msg.payload.decode(errors="replace"))
            n += 1
    except KeyboardInterrupt:
        pass
    finally:
        op.close()


@fleet.command()
@_broker_options
@click.argument("device")
@click.argument("name")
@click.argument("args", nargs=-1)
@click.option("--json", "body", help="the command's arguments as one JSON object")
@click.option("--timeout", default=30.0, show_default=True)
def cmd(device, name, args, body, timeout, **o):
    """Send command NAME to DEVICE with KEY=VALUE args (values parsed as JSON where they can be); print the reply."""
    payload = {}
    if body:
        try:
            payload = json.loads(body)
        except ValueError as e:
            raise EdgekitError(f"--json: not JSON ({e})", 'quote it: --json \'{"name": "Ann"}\'') from None
        if not isinstance(payload, dict):
            raise EdgekitError("--json: must be a JSON object")
    for a in args:
        k, eq, v = a.partition("=")
        if not eq:
            raise EdgekitError(f"argument {a!r}: expected KEY=VALUE")
        try:
            payload[k] = json.loads(v)
        except ValueError:
            payload[k] = v
    op = _operator(o)
    try:
        reply = op.command(device, name, payload, timeout)
    finally:
        op.close()
    click.echo(json.dumps(reply, indent=2))
    if not reply.get("ok"):
        raise SystemExit(1)


@fleet.command("push-model")
@_broker_options
@click.argument("card", type=click.Path(exists=True, dir_okay=False))
@click.option("--devices", required=True, help="comma-separated device ids")
@click.option(
    "--key",
    "model_key",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Ed25519 key that signs the model (and the push's commands, unless --sign)",
)
@click.option("--as", "name", help="the model name on the devices (default: the card's name)")
@click.option(
    "--url",
    help="the devices fetch the .tflite from this http(s) URL instead of receiving it over MQTT "
    "(it must serve the very file CARD describes: its sha256 and signature are checked)",
)
@click.option("--db", envvar="EDGEKIT_FLEET_DB", help="record each device's progress in this fleet store (fleet ui)")
def push_model(card, devices, model_key, name, url, db, **o):
    """Sign the model a CARD describes and send it to each device; show progress and each device's outcome."""
    from tqdm import tqdm

    from fleetctl.operator import read_model
    from fleetctl.signing import load_private_key

    key = load_private_key(model_key)
    tflite, card_json = read_model(Path(card))
    name = name or card_json["name"]
    log = _PushLog(db, "model", name, len(tflite))
    op = _operator(o)
    failed = 0
    try:
        for device in _device_list(devices):
            log(device, 0, "sending")
            with tqdm(
                total=len(tflite), unit="B", unit_scale=True, desc=device, leave=False, disable=url is not None
            ) as bar:

                def progress(done, total, device=device, bar=bar):
                    bar.update(done - bar.n)
                    log(device, done, "sending")

                try:
                    reply = op.push_model(device, name, tflite, card_json, key, url=url, progress=progress)
                except EdgekitError as e:  # no reply: the next device still gets its push
                    reply = {"ok": False, "error": e.what, "no_answer": True}
            if reply.get("ok"):
                log(device, len(tflite), "installed", reply["result"]["message"])
                click.echo(f"{device}: {name} installed ({reply['result']['message']})")
            else:
                failed += 1
                log(device, bar.n, "no answer" if reply.get("no_answer") else "refused", str(reply.get("error")))
                click.echo(f"{device}: {name} NOT installed: {reply.get('error')}")
    finally:
        op.close()
        log.close()
    if failed:
        raise SystemExit(1)


@fleet.command("push-gallery")
@_broker_options
@click.argument("export", type=click.Path(exists=True, dir_okay=False))
@click.option("--devices", required=True, help="comma-separated device ids")
@click.option(
    "--key",
    "gallery_key",
    type=click.Path(exists=True, dir_okay=False),
    help="Ed25519 key that signs the gallery (and the push's commands, unless --sign); without it the push is "
    "unsigned and devices refuse it unless mqtt.gallery_update.allow_unsigned",
)
@click.option("--timeout", default=30.0, show_default=True, help="seconds to wait for each device's reply")
@click.option("--db", envvar="EDGEKIT_FLEET_DB", help="record each device's progress in this fleet store (fleet ui)")
def push_gallery(export, devices, gallery_key, timeout, db, **o):
    """Enrol once, every door knows: send a gallery EXPORT (`edgekit faces export`) to each device, which replaces its
    gallery only if the export is signed, intact and of its own embedder; print each device's outcome."""
    from tqdm import tqdm

    from fleetctl.signing import load_private_key, sign_gallery

    key = load_private_key(gallery_key) if gallery_key else None
    data, begin = sign_gallery(key, export)
    log = _PushLog(db, "gallery", Path(export).name, len(data))
    op = _operator(o)
    failed = 0
    try:
        for device in _device_list(devices):
            log(device, 0, "sending")
            with tqdm(total=len(data), unit="B", unit_scale=True, desc=device, leave=False) as bar:

                def progress(done, total, device=device, bar=bar):
                    bar.update(done - bar.n)
                    log(device, done, "sending")

                try:
                    reply = op.push_gallery(device, data, begin, key, progress, timeout)
                except EdgekitError as e:  # no reply: the next device still gets its push
                    failed += 1
                    log(device, bar.n, "no answer", e.what)
                    click.echo(f"{device}: no answer ({e.what})")
                    continue
            if reply.get("ok"):
                r = reply["result"]
                log(device, len(data), "installed", r["message"])
                click.echo(f"{device}: accepted {r['identities']} identities ({r['embeddings']} embeddings)")
            else:
                failed += 1
                log(device, bar.n, "refused", str(reply.get("error")))
                click.echo(f"{device}: refused: {reply.get('error')}")
    finally:
        op.close()
        log.close()
    if failed:
        raise SystemExit(1)


def _device_list(devices: str) -> list[str]:
    return [d.strip() for d in devices.split(",") if d.strip()]


class _PushLog:
    """Each device's progress of one push in the fleet store (`--db`), for `fleet ui`; without --db, nothing."""

    def __init__(self, db: str | None, kind: str, name: str, total: int):
        import uuid

        from fleetctl.store import open_store

        self.store = open_store(db) if db else None
        self.id, self.kind, self.name, self.total = uuid.uuid4().hex[:12], kind, name, total

    def __call__(self, device: str, done: int, outcome: str, message: str = "") -> None:
        if self.store is not None:
            self.store.record_push(self.id, device, self.kind, self.name, done, self.total, outcome, message)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


@fleet.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="where to write the private key (0600)")
def keygen(out):
    """Make an Ed25519 key pair: the private key to --out, the public key (for the devices' config) printed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge.private import write_private
    from fleetctl.signing import public_key_b64

    path = Path(out).expanduser()
    if path.exists():
        raise EdgekitError(f"{path}: already exists", "pick another --out; a key is never overwritten")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private(path, pem)  # 0600 (a new folder 0700) whatever the umask
    click.echo(f"private key: {path} (keep it secret)")
    click.echo(f"public key: {public_key_b64(key)}")
    click.echo(
        "put the public key in the devices' config: mqtt.signing.ed25519_public_keys and/or "
        "mqtt.model_update.public_key"
    )


# ---- the fleet store: ingest, events, gaps ----
_DB_HELP = "the store: sqlite:///PATH or a plain path (embedded), or postgresql://USER@HOST:PORT/DB"
_DEFAULT_DB = "~/.local/share/edgekit/fleet.db"


def _since(value: str | None) -> float | None:
    """--since: 30s / 15m / 2h / 7d ago, an ISO time, or epoch seconds."""
    import re
    from datetime import datetime

    if not value:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", value.strip())
    if m:
        return time.time() - float(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise EdgekitError(
            f"--since {value!r}: not a time", "use 15m, 2h, 7d, 2026-12-02T10:00 or epoch seconds"
        ) from None


@fleet.command()
@_broker_options
@click.option("--db", default=_DEFAULT_DB, show_default=True, envvar="EDGEKIT_FLEET_DB", help=_DB_HELP)
@click.option(
    "--group", default="edgekit-ingest", show_default=True, help="shared-subscription group the workers share"
)
@click.option(
    "--worker", default="1", show_default=True, help="this worker's name in the group (stable: its session is kept)"
)
@click.option("--retention-days", type=float, default=None, help="delete events and telemetry older than this")
@click.option("--seconds", type=float, default=0, help="stop after this many seconds (0: run until stopped)")
def ingest(db, group, worker, retention_days, seconds, **o):
    """Store every device's events (each once), telemetry and status; workers in one --group share the load."""
    import signal
    import threading

    from fleetctl.ingest import IngestConfig, IngestWorker
    from fleetctl.store import open_store

    store = open_store(db)
    cfg = IngestConfig(
        host=o["host"],
        port=o["port"],
        root=o["root"],
        group=group,
        worker=worker,
        username=o["username"],
        password=o["password"],
        retention_s=retention_days * 86400 if retention_days else None,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    w = IngestWorker(cfg, store).start()
    if not w.subscribed.wait(15):
        w.stop()
        raise EdgekitError(
            f"fleet ingest: not subscribed on {o['host']}:{o['port']} ({w.last_error or 'no answer'})",
            "check --username/--password and the broker's ACL",
        )
    click.echo(f"ingest {group}/{worker}: {', '.join(w.topics())} -> {db.split('@')[-1]}", err=True)
    try:
        stop.wait(seconds or None)
    except KeyboardInterrupt:
        pass
    finally:
        w.stop()
        store.close()
    click.echo(f"ingest {group}/{worker}: stored {w.stored} new events, {w.redelivered} redelivered skipped", err=True)


@fleet.command()
@click.option("--db", default=_DEFAULT_DB, show_default=True, envvar="EDGEKIT_FLEET_DB", help=_DB_HELP)
@click.option("--device", help="only this device")
@click.option("--type", "kind", help="only this event type (face_unknown, count_changed, ...)")
@click.option("--since", help="15m, 2h, 7d, an ISO time or epoch seconds")
@click.option("--limit", default=100, show_default=True)
def events(db, device, kind, since, limit):
    """Stored events, newest first, as JSON lines."""
    from fleetctl.store import open_store

    store = open_store(db)
    try:
        for e in store.events(device, kind, _since(since), limit):
            click.echo(json.dumps(e))
    finally:
        store.close()


@fleet.command()
@click.option("--db", default=_DEFAULT_DB, show_default=True, envvar="EDGEKIT_FLEET_DB", help=_DB_HELP)
@click.option("--device", help="only this device")
@click.option("--json", "as_json", is_flag=True)
def gaps(db, device, as_json):
    """Sequence numbers missing between a device's stored events (dropped by its outbox bound, or lost); per outbox
    epoch, since a device whose outbox file was wiped counts from 1 again."""
    from fleetctl.store import open_store

    store = open_store(db)
    try:
        found = store.gaps(device)
    finally:
        store.close()
    for g in found:
        row = {"device": g.device_id, "epoch": g.epoch, "first": g.first, "last": g.last, "missing": g.missing}
        epoch = f" (outbox {g.epoch})" if g.epoch else ""
        click.echo(
            json.dumps(row) if as_json else f"{g.device_id:<20} {g.first}..{g.last} ({g.missing} missing){epoch}"
        )
    if not found and not as_json:
        click.echo("no gaps", err=True)


@fleet.command("ui")
@click.option("--db", default=_DEFAULT_DB, show_default=True, envvar="EDGEKIT_FLEET_DB", help=_DB_HELP)
@click.option("--bind", default="127.0.0.1", show_default=True, help="any other address needs a password or token")
@click.option("--port", default=8090, show_default=True, type=int)
@click.option(
    "--password-hash",
    envvar="EDGEKIT_FLEET_UI_PASSWORD_HASH",
    help="scrypt hash from `edgekit ui hash-password` (better in the environment than on the command line)",
)
@click.option("--token-sha256", envvar="EDGEKIT_FLEET_UI_TOKEN_SHA256", help="from `edgekit ui hash-password --token`")
def ui(db, bind, port, password_hash, token_sha256):
    """The fleet page over the store `fleet ingest` fills: devices online/offline, events, shelf alerts, pushes."""
    import uvicorn

    from fleetctl.store import open_store
    from fleetctl.web.server import make_app

    store = open_store(db)
    try:
        app = make_app(store, bind, password_hash, token_sha256)
    except ValueError as e:  # a malformed password hash
        store.close()
        raise EdgekitError(f"fleet ui --password-hash: {e}") from None
    config = uvicorn.Config(app, host=bind, port=port, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    click.echo(f"fleet ui: http://{bind}:{port}/ over {db.split('@')[-1]}", err=True)
    try:
        server.run()
    finally:
        store.close()
    if not server.started:
        raise EdgekitError(f"fleet ui: cannot serve on {bind}:{port}", "is the port in use? pick another --port")
