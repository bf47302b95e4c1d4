"""Command parsing and dispatch: every command gets a reply saying done or exactly why not, whatever it carries.
Payloads are size-limited, must be a JSON object, pass the signature check when signing is on, and only reach a
handler registered by name; nothing in a payload is executed or used as a file path."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from edge.errors import EdgekitError

Handler = Callable[[dict], dict]
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class Dispatcher:
    def __init__(self, max_bytes: int, verifier=None):
        self.max_bytes, self.verifier = max_bytes, verifier
        self.handlers: dict[str, Handler] = {}
        self.read_only: set[str] = set()  # commands that change nothing: mqtt.signing.unsigned_read_only opens them
        self.register("commands", self._describe, read_only=True)

    def register(self, name: str, handler: Handler, read_only: bool = False) -> None:
        """A command; unless `read_only` says it changes nothing, it runs only when signed (see CommandVerifier)."""
        if not NAME.match(name):
            raise ValueError(f"command name {name!r}: use lower-case letters, digits and _")
        self.handlers[name] = handler
        if read_only:
            self.read_only.add(name)
        else:
            self.read_only.discard(name)

    def _describe(self, body: dict) -> dict:
        """List the commands this device answers, with what each does."""
        return {"commands": {n: (h.__doc__ or "").strip().split("\n")[0] for n, h in sorted(self.handlers.items())}}

    def handle(self, name: str, payload: bytes) -> dict:
        return handle_command(self.handlers, name, payload, self.max_bytes, self.verifier, name in self.read_only)


def handle_command(
    handlers: dict, name: str, payload: bytes, max_bytes: int, verifier=None, read_only: bool = False
) -> dict:
    """Parse, check and dispatch one command; always returns a JSON-ready reply {id, ok, result | error}."""
    if len(payload) > max_bytes:
        return {"ok": False, "error": f"payload of {len(payload)} bytes exceeds the {max_bytes}-byte limit"}
    try:
        body = json.loads(payload.decode("utf-8")) if payload else {}
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        return {"ok": False, "error": f"payload is not JSON ({e.__class__.__name__})"}
    if not isinstance(body, dict):
        return {"ok": False, "error": f"payload must be a JSON object, got {type(body).__name__}"}
    request_id = (
        body.get("id") if isinstance(body.get("id"), (str, int)) and not isinstance(body.get("id"), bool) else None
    )
    if isinstance(request_id, str):
        request_id = request_id[:128]
    handler = handlers.get(name) if isinstance(name, str) else None
    if handler is None:
        return {"id": request_id, "ok": False, "error": f"unknown command {name[:64]!r}", "commands": sorted(handlers)}
    try:
        if verifier is not None:
            verifier.check(name, body, read_only=read_only)
        result = handler(body)
        json.dumps(result)  # a reply that cannot be sent is a handler bug: say so rather than drop it
    except EdgekitError as e:
        return {"id": request_id, "ok": False, "error": str(e)}
    except (KeyError, TypeError, ValueError) as e:
        return {"id": request_id, "ok": False, "error": f"bad arguments: {e.__class__.__name__}: {str(e)[:200]}"}
    return {"id": request_id, "ok": True, "result": result}
