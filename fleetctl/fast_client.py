"""paho with its per-message costs cut, for the ingest worker (a fleet's firehose; devices keep stock paho).

Profiled (`scripts/profile_ingest.py`), paho's network thread spent 90-130 us per received PUBLISH, most of it on
two things that carry no information:
- a `Properties` object per MQTT 5 PUBLISH that builds its three lookup tables anew (two dicts of 27 names and a
  list), then clears itself by trying all 27 names: about 40% of the thread. `SharedTableProperties` shares the
  tables, which nothing writes after they are built.
- one `select` and three or four `recv` calls per message, because paho reads a packet's first byte, its length bytes
  and its body separately and handles one packet per `select` (`loop_read` ignores `max_packets`). `BufferedSocket`
  reads up to 64 KiB at a time; `FastClient.loop_read` goes on while whole or partial packets are buffered. paho's
  loop already asks a socket for `pending()` bytes (its TLS and websocket sockets have it) before it waits in select.
Together: 68-80 us per message instead of 237-242 in the same run (docs/benchmarks.md). Both hook into paho internals
(`_create_socket`, `paho.mqtt._packet.Properties`), checked by tests against the installed paho
(tests/test_fast_client.py); on a paho without them the stock code runs."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties

_TABLES = ("types", "names", "properties")  # built once by paho's own __init__, read-only afterwards
_OWN = ("packetType", *_TABLES)


class SharedTableProperties(Properties):
    """paho's Properties, with the lookup tables built once instead of per packet."""

    _tables: dict | None = None

    def __init__(self, packetType):
        tables = SharedTableProperties._tables
        if tables is None:
            stock = Properties(packetType)
            tables = SharedTableProperties._tables = {k: stock.__dict__[k] for k in _TABLES}
        self.__dict__["packetType"] = packetType  # paho's __setattr__ validates names; these are its own fields
        self.__dict__.update(tables)

    def clear(self):
        for name in [k for k in self.__dict__ if k not in _OWN]:
            del self.__dict__[name]


class BufferedSocket:
    """A socket-like (paho's SocketLike: recv, send, fileno, close, setblocking) that receives in large reads."""

    def __init__(self, sock, read_size: int = 65536):
        self._sock, self._read_size, self._buffer = sock, read_size, bytearray()

    def recv(self, n: int) -> bytes:
        if not self._buffer:
            data = self._sock.recv(self._read_size)  # raises BlockingIOError when nothing came, as paho expects
            if len(data) <= n:
                return data
            self._buffer += data
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    def pending(self) -> int:
        """Bytes received but not yet read: ours, and those a TLS or websocket layer below holds."""
        below = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buffer) + below

    def __getattr__(self, name):  # send, fileno, close, setblocking, setsockopt (on_socket_open's no_delay)
        return getattr(self._sock, name)


def share_property_tables() -> bool:
    """Make paho's PUBLISH decoder use SharedTableProperties (process-wide: it decodes the same)."""
    try:
        import paho.mqtt._packet as packet
    except ImportError:
        return False
    if getattr(packet, "Properties", None) not in (Properties, SharedTableProperties):
        return False
    packet.Properties = SharedTableProperties
    return True


class FastClient(mqtt.Client):
    """mqtt.Client that reads every buffered packet per wake-up."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        share_property_tables()

    if hasattr(mqtt.Client, "_create_socket"):

        def _create_socket(self):
            return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == mqtt.MQTT_ERR_SUCCESS and isinstance(self._sock, BufferedSocket) and self._sock.pending():
            rc = super().loop_read(max_packets)
        return rc
