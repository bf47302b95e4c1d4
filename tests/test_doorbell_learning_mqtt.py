"""The learning commands over MQTT through a real mosquitto, on the running doorbell (real zoo models, carphone
looped like a camera): an unknown visitor appears in the retained state, `unknowns` lists it, `name_visitor` enrols
it, the next recognition can be rejected with `reject` by its event id."""

import json
import threading
import time

import pytest

from edge.config import parse_config
from edge.site import run_site
from fleetctl.signing import public_key_b64
from tests.fixtures.doorbell import live_camera
from tests.test_site_run import KEY, Listener, signed


def test_unknowns_name_visitor_and_reject_over_mqtt(zoo, media, tmp_path, broker):
    pytest.importorskip("edge.fleet.link")
    listener = Listener(broker.port)
    cfg = parse_config(
        {
            "device_id": "door-1",
            "runtime": {"models_dir": str(zoo)},
            "gallery": {"path": str(tmp_path / "g.db")},
            "source": live_camera(media),
            "events": {"stdout": False},
            "learning": {"unknowns": {"thumbnails": True}},
            "mqtt": {
                "host": "127.0.0.1",
                "port": broker.port,
                "outbox": {"path": str(tmp_path / "outbox.db")},
                "signing": {"ed25519_public_keys": [public_key_b64(KEY)]},
            },
        }
    )

    def start():
        runner = threading.Thread(target=lambda: run_site(cfg, max_frames=300, install_signals=False), daemon=True)
        runner.start()
        return runner

    runner = start()

    def command(name, body, n):
        listener.client.publish(f"edgekit/door-1/cmd/{name}", json.dumps(signed(name, {"id": n, **body})), qos=1)
        for _ in range(300):
            replies = listener.wait(lambda t: t == f"edgekit/door-1/cmd/{name}/reply", timeout=30)
            mine = [r for r in replies if r["id"] == n]
            if mine:
                return mine[0]
            time.sleep(0.1)
        raise AssertionError(f"no reply to {name} {n}")

    try:
        unknown = listener.wait(lambda t: t == "edgekit/door-1/events/face_unknown", timeout=60)[0]
        assert unknown["visitor"] == "visitor-1" and unknown["seen"] == 1
        state = listener.wait(lambda t: t == "edgekit/door-1/state")[-1]
        assert state["unknowns"]["visitors"] == 1 and state["unknowns"]["recent"][0]["id"] == "visitor-1"
        reply = command("unknowns", {}, 1)
        assert reply["ok"], reply
        (v,) = reply["result"]["visitors"]
        assert v["id"] == "visitor-1" and v["seen"] >= 1 and isinstance(v["thumbnail"], str)
        listener.messages.clear()  # what follows is from the naming on (its state goes out before its reply)
        reply = command("name_visitor", {"visitor": "visitor-1", "name": "caller"}, 2)
        assert reply["ok"] and reply["result"]["named"] == "caller", reply
        state = listener.wait(lambda t: t == "edgekit/door-1/state")[-1]
        assert state["gallery"]["names"] == ["caller"] and state["unknowns"]["visitors"] == 0
        reply = command("reject", {"event_id": "nope"}, 3)
        assert reply["ok"] is False and "not among the recent decisions" in reply["error"]
        runner.join(60)  # the caller's track stays open while the clip loops: the next run sees them anew
        runner = start()
        recognised = listener.wait(lambda t: t == "edgekit/door-1/events/face_recognized", timeout=60)[0]
        assert recognised["identity"] == "caller"
        reply = command("reject", {"event_id": recognised["id"]}, 4)
        assert reply["ok"] and reply["result"]["identity"] == "caller" and reply["result"]["negatives"] == 1, reply
        assert listener.wait(lambda t: t == "edgekit/door-1/state")[-1]["gallery"]["negatives"] == 1
    finally:
        runner.join(60)
        listener.client.loop_stop()
