"""The embedded broker: with no `mqtt.host` configured the device runs amqtt in-process, bound to 127.0.0.1 only, so
the demo works on a fresh machine without a broker. amqtt speaks MQTT 3.1.1 and binds 0.0.0.0:1883 unless told
otherwise, so the listener here is always given explicitly. Every client must log in with the credentials generated
on first start (`broker_login`): 127.0.0.1 is shared by every user of the machine. For a site, point `mqtt.host`
at a real broker."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from pathlib import Path

from edge.errors import EdgekitError
from edge.private import check_secret, private_file

LOGIN_FILE = "broker-credentials.json"


def broker_login(state_dir: Path) -> tuple[dict, Path, bool]:
    """The in-process broker's credentials from `state_dir`, made on first use (0600 in a 0700 folder):
    ({username, password}, file, made now)."""
    path = Path(state_dir).expanduser() / LOGIN_FILE
    made = not path.exists()
    if made:
        login = {"username": "edgekit", "password": secrets.token_urlsafe(24)}
        private_file(path).write_text(json.dumps(login) + "\n")
    check_secret(path, "in-process broker credentials")
    try:
        login = json.loads(path.read_text())
        if not (isinstance(login, dict) and all(isinstance(login.get(k), str) for k in ("username", "password"))):
            raise ValueError("no username and password")
    except (OSError, ValueError) as e:
        raise EdgekitError(
            f"in-process broker credentials {path}: unreadable ({e})",
            "delete the file: new ones are made at the next start",
        ) from None
    return {"username": login["username"], "password": login["password"]}, path, made


class EmbeddedBroker:
    host = "127.0.0.1"  # never another interface: an open broker on the LAN would take anyone's commands

    def __init__(self, port: int = 1883, login: dict | None = None):
        self.port, self.login = port, login  # login: {username, password}; None only for tests that want it open
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        try:
            import amqtt.broker  # noqa: F401
        except ImportError:
            raise EdgekitError(
                "mqtt: no mqtt.host is set and the in-process broker (amqtt) is not installed",
                "set mqtt.host to your broker, or pip install 'edgekit[broker]'",
            ) from None
        for name in ("amqtt", "transitions"):  # amqtt logs every packet at INFO
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._run, name="edgekit-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            raise EdgekitError(
                f"mqtt: the in-process broker cannot listen on {self.host}:{self.port} ({self._error})",
                "pick a free mqtt.port, stop what holds it, or set mqtt.host to that broker",
            )
        return self

    def _run(self) -> None:
        from amqtt.broker import Broker

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": (
                {f"{__name__.rsplit('.', 1)[0]}.broker_login.LoginPlugin": dict(self.login)}
                if self.login
                else {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
            ),
        }

        async def main():
            self._broker = Broker(config)
            await self._broker.start()

        try:
            self._loop.run_until_complete(main())
        except BaseException as e:  # port taken, bad bind: reported by start()
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._loop is None or self._broker is None:
            return
        asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
