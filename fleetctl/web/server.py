"""`edgekit fleet ui`: read-only pages over the fleet store that `fleet ingest` fills (SQLite or PostgreSQL): devices
(online/offline from their retained status, last telemetry, version, models, gallery), events across the fleet, shelf
alerts across stores, and model/gallery pushes. The login, sessions, CSRF and bind rules are the device page's
(edge.web.security, edge.web.auth); the only action, logging out, is a CSRF-checked POST. Handlers are async: every
query runs on the event loop's one thread, so one store connection serves them all in turn."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

import edge.web
from edge.errors import EdgekitError
from edge.web.auth import GuardMiddleware, login_routes
from edge.web.security import Guard, allowed_hosts, is_loopback
from fleetctl.operator import DEVICE
from fleetctl.store import Store

HERE = Path(__file__).parent
DEVICE_PAGE = Path(edge.web.__file__).parent  # its login page and stylesheet
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
SHELF_ALERTS = ("out_of_stock", "planogram_violation")
MAX_LIMIT = 1000


def check_bind(bind: str, password_hash: str | None, token_sha256: str | None) -> None:
    """The device page's rule, named after this command's options."""
    if not is_loopback(bind) and not password_hash and not token_sha256:
        raise EdgekitError(
            f"fleet ui --bind {bind}: not a loopback address, so a password or token is required",
            "set EDGEKIT_FLEET_UI_PASSWORD_HASH (`edgekit ui hash-password`) or --token-sha256, or bind 127.0.0.1",
        )


def query(request: Request, allowed: dict[str, re.Pattern | None]) -> dict[str, str | None]:
    """The query parameters a page takes, each checked (400 naming the parameter otherwise); unknown ones refused."""
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) or "no parameters"
        raise HTTPException(400, f"unknown query parameter {unknown[0][:40]!r}: this page takes {takes}")
    got = {}
    for key, pattern in allowed.items():
        values = request.query_params.getlist(key)
        if len(values) > 1:
            raise HTTPException(400, f"query parameter {key!r}: given {len(values)} times, give it once")
        value = values[0] if values and values[0] != "" else None
        if value is not None and pattern is not None and not pattern.match(value):
            raise HTTPException(400, f"query parameter {key!r}: {value[:40]!r} is not a valid {key}")
        got[key] = value
    return got


def limit_of(value: str | None, default: int = 200) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise HTTPException(400, f"query parameter 'limit': {value[:20]!r} is not a whole number 1..{MAX_LIMIT}")
    return int(value)


def device_rows(store: Store, now: float) -> list[dict]:
    """One row per device for the devices page: what its retained status, telemetry and state say."""
    rows = []
    for d in store.devices():
        status, telemetry, state = d["status"] or {}, d["telemetry"] or {}, d["state"] or {}
        if not isinstance(status, dict):
            status = {}
        gallery = state.get("gallery") if isinstance(state, dict) else None
        rows.append(
            {
                "device": d["device"],
                "online": status.get("state") == "online",
                "state": status.get("state", "unknown"),
                "status_at": d["status_at"],
                "since": status.get("since"),
                "software": status.get("software", "?"),
                "app": status.get("app") or (state.get("app") if isinstance(state, dict) else None) or "-",
                "allow_unsigned": bool(status.get("allow_unsigned")),
                # a will carries no models: what the last retained state said
                "models": status.get("models") or (state.get("models") if isinstance(state, dict) else None) or {},
                "telemetry": telemetry if isinstance(telemetry, dict) else {},
                "telemetry_at": d["telemetry_at"],
                "gallery": gallery if isinstance(gallery, dict) else None,
            }
        )
    return rows


def push_outcomes(store: Store) -> list[dict]:
    """What each device's retained state says about its last model and gallery updates."""
    out = []
    for d in store.devices():
        state = d["state"] if isinstance(d["state"], dict) else {}
        for model, o in (state.get("model_updates") or {}).items():
            out.append({"device": d["device"], "kind": "model", "name": model, **o})
        last = (state.get("gallery") or {}).get("last_update")
        if isinstance(last, dict):
            out.append({"device": d["device"], "kind": "gallery", "name": "gallery", **last})
    return sorted(out, key=lambda o: -float(o.get("time") or 0))


def ago(t) -> str:
    if not isinstance(t, (int, float)):
        return "never"
    s = max(0.0, time.time() - t)
    return f"{s:.0f} s ago" if s < 120 else f"{s / 60:.0f} min ago" if s < 7200 else f"{s / 3600:.1f} h ago"


def when(t) -> str:
    if not isinstance(t, (int, float)):
        return ""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def make_app(store: Store, bind: str = "127.0.0.1", password_hash: str | None = None, token_sha256=None) -> Starlette:
    check_bind(bind, password_hash, token_sha256)
    guard = Guard(password_hash, token_sha256)
    templates = Jinja2Templates(directory=[str(HERE / "templates"), str(DEVICE_PAGE / "templates")])
    templates.env.filters.update(ago=ago, when=when)

    def page(request: Request, name: str, **context) -> Response:
        return templates.TemplateResponse(request, name, {"csrf": request.state.csrf, **context})

    async def devices(request: Request):
        query(request, {})
        return page(request, "fleet_devices.html", devices=device_rows(store, time.time()))

    async def devices_json(request: Request):
        query(request, {})
        return JSONResponse(device_rows(store, time.time()))

    async def events(request: Request):
        q = query(request, {"device": DEVICE, "type": EVENT_TYPE, "limit": None})
        shown = store.events(q["device"], q["type"], None, limit_of(q["limit"]))
        known = [d for (d,) in store.execute("SELECT device_id FROM devices ORDER BY device_id")]
        types = [t for (t,) in store.execute("SELECT DISTINCT type FROM events ORDER BY type")]
        return page(request, "fleet_events.html", events=shown, known=known, types=types, **q)

    async def shelf(request: Request):
        q = query(request, {"device": DEVICE, "limit": None})
        limit = limit_of(q["limit"])
        alerts = sorted(
            (e for kind in SHELF_ALERTS for e in store.events(q["device"], kind, None, limit)),
            key=lambda e: -float(e.get("time") or 0),
        )[:limit]
        return page(request, "fleet_shelf.html", alerts=alerts, device=q["device"])

    async def pushes(request: Request):
        q = query(request, {"limit": None})
        return page(
            request, "fleet_pushes.html", pushes=store.pushes(limit_of(q["limit"], 50)), outcomes=push_outcomes(store)
        )

    async def error(request: Request, exc: HTTPException):
        return PlainTextResponse(str(exc.detail), exc.status_code)

    routes = [
        *login_routes(guard, templates),
        Route("/", devices),
        Route("/api/devices", devices_json),
        Route("/events", events),
        Route("/shelf", shelf),
        Route("/pushes", pushes),
        Mount("/static", StaticFiles(directory=str(DEVICE_PAGE / "static")), name="static"),
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(bind)),
        Middleware(GuardMiddleware, guard=guard, max_body=16 * 1024),  # a login form, a logout
    ]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: error})
