"""`edgekit bench update`: over-the-air model updates through a real mosquitto, the two ways a device gets one, in
the same run: in 32 KB chunks over MQTT (each chunk a command and its reply) and fetched from an operator's HTTP server
(on loopback here, so this measures the device's side, not a network). Per push: the transfer, the device's commit
(sha256, Ed25519 signature, swap, smoke test) and the total, from the operator's `push_model` call to its reply."""

from __future__ import annotations

import functools
import http.server
import shutil
import tempfile
import threading
import time
from pathlib import Path

import click
import numpy as np

from edge.errors import EdgekitError


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _push_rows(models, rounds, zoo: Path, work: Path, www: Path, http_port: int, nodelay: bool) -> list[str]:
    """Every model pushed `rounds` times each way through one broker; a table row per model, and the command round
    trip.
    A bench script, read top to bottom on purpose (~60 lines)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge.bench.mqtt import Mosquitto
    from edge.fleet.config import ModelUpdateConfig, MqttConfig
    from edge.fleet.link import DeviceLink
    from edge.fleet.outbox import OutboxConfig
    from edge.fleet.security import SigningConfig
    from fleetctl.operator import Operator, read_model
    from fleetctl.signing import public_key_b64

    folder, device = work / f"broker-{int(nodelay)}", work / f"device-{int(nodelay)}"
    folder.mkdir()
    device.mkdir()
    for m in models:  # the device's own copy: the zoo is never written
        for suffix in (".tflite", ".card.json"):
            shutil.copy(zoo / f"{m}{suffix}", device / f"{m}{suffix}")
    broker = Mosquitto(folder, nodelay=nodelay).start()
    key = Ed25519PrivateKey.generate()
    cfg = MqttConfig(
        host="127.0.0.1",
        port=broker.port,
        device_id="bench",
        telemetry_interval_s=3600,
        outbox=OutboxConfig(path=str(folder / "outbox.db")),
        model_update=ModelUpdateConfig(public_key=public_key_b64(key), models_dir=str(device)),
        signing=SigningConfig(ed25519_public_keys=[public_key_b64(key)]),
    )  # commands are signed
    link = DeviceLink(cfg).start()
    op, rows, broker_name = None, [], "nodelay" if nodelay else "default"
    try:
        if not link.connected.wait(10):
            raise EdgekitError(f"bench update: the link did not connect ({link.last_error})")
        op = Operator(port=broker.port, sign_key=key)
        t0 = time.perf_counter()
        for _ in range(50):
            op.command("bench", "commands")
        rows.append(
            f"command round trip (`commands`, 50 in a row), {broker_name} broker: "
            f"{(time.perf_counter() - t0) / 50 * 1000:.1f} ms"
        )
        for m in models:
            tflite, card = read_model(zoo / f"{m}.card.json")
            (www / f"{m}.tflite").write_bytes(tflite)
            chunked, fetched, smoke = [], [], []
            for _ in range(rounds):
                marks: list[float] = []
                t0 = time.perf_counter()
                reply = op.push_model(
                    "bench",
                    m,
                    tflite,
                    card,
                    key,
                    progress=lambda done, total, marks=marks: marks.append(time.perf_counter()),
                )
                total = time.perf_counter() - t0
                if not reply.get("ok"):
                    raise EdgekitError(f"bench update: the chunked push of {m} failed: {reply.get('error')}")
                chunked.append((marks[-1] - t0, total - (marks[-1] - t0), total))
                smoke.append(reply["result"]["latency_ms"])
                t0 = time.perf_counter()
                reply = op.push_model("bench", m, tflite, card, key, url=f"http://127.0.0.1:{http_port}/{m}.tflite")
                if not reply.get("ok"):
                    raise EdgekitError(f"bench update: the URL push of {m} failed: {reply.get('error')}")
                fetched.append(time.perf_counter() - t0)
            transfer, commit, total = np.median(np.array(chunked), axis=0)
            url_total, mb = float(np.median(fetched)), len(tflite) / 1e6
            rows.append(
                f"{m:<16}{broker_name:>8}{mb:>7.2f}  {transfer:>9.2f} / {commit:>5.2f} / {total:>6.2f}  "
                f"{mb / total:>6.1f}  "
                f"{url_total:>9.2f}  {mb / url_total:>6.1f}  {total / url_total:>10.1f}  {np.median(smoke):>8.1f}"
            )
    finally:
        if op is not None:
            op.close()
        link.stop(flush_timeout_s=1)
        broker.stop()
    return rows


@click.command()
@click.argument("models", nargs=-1)
@click.option("--rounds", default=3, show_default=True, help="pushes per model, way and broker (medians are printed)")
def command(models, rounds):
    """Model update time over MQTT in chunks vs fetched from a URL, for zoo MODELS (default: faceres), through a
    mosquitto with its default settings and one with `set_tcp_nodelay true`."""
    from edge.paths import models_dir

    zoo, models = models_dir(), models or ("faceres",)
    missing = [m for m in models if not (zoo / f"{m}.card.json").is_file()]
    if missing:
        raise EdgekitError(f"bench update: {missing} not built in {zoo}", "run `edgekit models build` first")
    work = Path(tempfile.mkdtemp(prefix="edgekit-bench-update-"))
    www = work / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        click.echo(
            f"update bench: mosquitto on loopback, HTTP on 127.0.0.1:{server.server_port}, {rounds} pushes per "
            f"model, way and broker; medians; MB/s of the whole push"
        )
        rows = {nd: _push_rows(models, rounds, zoo, work, www, server.server_port, nd) for nd in (False, True)}
        for nd in (False, True):
            click.echo(rows[nd][0])
        click.echo(
            f"{'model':<16}{'broker':>8}{'MB':>7}  {'chunks: xfer / commit / total s':>30}  {'MB/s':>6}  "
            f"{'url: total s':>9}  {'MB/s':>6}  {'chunks/url':>10}  {'smoke ms':>8}"
        )
        for nd in (False, True):
            for row in rows[nd][1:]:
                click.echo(row)
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(work, ignore_errors=True)
