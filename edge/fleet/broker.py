"""The embedded broker: with no `mqtt.host` configured the device runs amqtt in-process, bound to 127.0.0.1 only, so
the demo works on a fresh machine without a broker. amqtt speaks MQTT 3.1.1 and binds 0.0.0.0:1883 unless told
otherwise, so the listener here is always given explicitly. For a site, point `mqtt.host` at a real broker."""
from __future__ import annotations

import asyncio
import logging
import threading

from edge.errors import EdgekitError


class EmbeddedBroker:
    host = "127.0.0.1"  # never another interface: an open broker on the LAN would take anyone's commands

    def __init__(self, port: int = 1883):
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout_s: float = 10.0) -> "EmbeddedBroker":
        try:
            import amqtt.broker  # noqa: F401
        except ImportError:
            raise EdgekitError("mqtt: no mqtt.host is set and the in-process broker (amqtt) is not installed",
                               "set mqtt.host to your broker, or pip install 'edgekit[broker]'") from None
        for name in ("amqtt", "transitions"):  # amqtt logs every packet at INFO
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._run, name="edgekit-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            raise EdgekitError(f"mqtt: the in-process broker cannot listen on {self.host}:{self.port} ({self._error})",
                               "pick a free mqtt.port, stop what holds it, or set mqtt.host to that broker")
        return self

    def _run(self) -> None:
        from amqtt.broker import Broker

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
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
