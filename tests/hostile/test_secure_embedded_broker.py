"""Issue 10: the in-process broker (no `mqtt.host`) requires credentials, generated on first start, stored 0600 in
the state directory and printed for the operator; another local user can neither subscribe to `#` nor publish
commands. Bug 7: the fleet tools (MQTT 5) talk to it (MQTT 3.1.1) by negotiating down."""

from __future__ import annotations

import json
import stat
import time

import pytest

from edge.ports import free_port, listening
from tests.hostile.cli import edgekit, one_line_error
from tests.hostile.secure_common import Client, Device, keygen, wait_online

pytest.importorskip("amqtt", reason="the in-process broker is the `broker` extra (amqtt)")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, zoo, media):
    d = tmp_path_factory.mktemp("embedded")
    port = free_port()
    key = d / "ops.key"
    public = keygen(key)
    device = Device(d, zoo, media, {"port": port, "signing": {"ed25519_public_keys": [public]}}, device_id="door-emb")
    device.port, device.key, device.state = port, key, d / "state"
    device.start(env={"EDGEKIT_HOME": str(device.state)})
    assert listening(port, 60), f"nothing listens on 127.0.0.1:{port}"
    yield device
    device.stop()


def credentials(device) -> dict:
    path = device.state / "broker-credentials.json"
    end = time.time() + 20
    while not path.exists() and time.time() < end:
        time.sleep(0.1)
    return json.loads(path.read_text())


def test_secure_the_in_process_broker_makes_credentials_and_keeps_them_private(embedded):
    creds = credentials(embedded)
    path = embedded.state / "broker-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(embedded.state.stat().st_mode) == 0o700
    assert creds["username"] and len(creds["password"]) >= 20
    assert creds["password"] in embedded.log() and str(path) in embedded.log()  # printed for the operator


def test_secure_a_stranger_cannot_subscribe_or_publish_on_the_in_process_broker(embedded):
    creds = credentials(embedded)
    for who in ({}, {"username": creds["username"], "password": "guess"}, {"username": "other", "password": "x"}):
        c = Client(embedded.port, "#", v5=False, **who)
        try:
            assert c.refused is not None and not c.ok, who
        finally:
            c.close()
    owner = Client(embedded.port, "edgekit/#", v5=False, **creds)
    try:
        assert owner.ok
        wait_online(owner, embedded)
    finally:
        owner.close()


def test_secure_fleet_tools_negotiate_down_to_the_in_process_broker(embedded):
    """Bug 7: `fleet ls` spoke MQTT 5 to the 3.1.1-only broker and blamed the credentials."""
    creds = credentials(embedded)
    login = ["--port", embedded.port, "--username", creds["username"], "--password", creds["password"]]
    r = edgekit("fleet", "ls", *login, "--wait", 2)
    assert r.returncode == 0 and "door-emb" in r.stdout and "online" in r.stdout, (r.stdout, r.stderr[-2000:])
    r = edgekit("fleet", "cmd", "door-emb", "stats", *login, "--sign", embedded.key, "--timeout", 20)
    assert r.returncode == 0 and json.loads(r.stdout)["ok"], (r.stdout, r.stderr[-2000:])


def test_secure_a_refused_login_says_so(embedded):
    r = edgekit("fleet", "ls", "--port", embedded.port, "--username", "edgekit", "--password", "wrong")
    one_line_error(r, "refused", "--username")
