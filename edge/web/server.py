"""The device's web page: Starlette routes over a SiteView, Jinja2 templates, served by uvicorn in a daemon thread
beside the frame loop. Pages read; actions are CSRF-checked POSTs that run the site's commands (SiteView.run)."""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import time
from pathlib import Path
from urllib.parse import quote

import cv2
import yaml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from edge.config import parse_config
from edge.errors import EdgekitError
from edge.web.auth import GuardMiddleware, checked_form, login_routes
from edge.web.security import Guard, allowed_hosts
from edge.web.view import CommandRefused, EventLog, SiteView, TelemetryHistory

HERE = Path(__file__).parent
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small fields beside an upload


def make_app(view: SiteView, ui) -> Starlette:
    guard = Guard(ui.password_hash, ui.token_sha256)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["clock"] = _clock
    max_part = ui.max_upload_bytes

    def page(request: Request, name: str, **context) -> Response:
        base = {"csrf": request.state.csrf, "device": view.loop.cfg.device_id, "app": view.loop.cfg.app}
        base["msg"] = request.query_params.get("msg", "")[:200]
        return templates.TemplateResponse(request, name, {**base, **context})

    async def run(request: Request, name: str, body: dict, back: str, done: str) -> Response:
        try:
            await run_in_threadpool(view.run, name, body)  # enrolment embeds: the server keeps answering meanwhile
        except CommandRefused as e:
            return PlainTextResponse(e.message, e.status)
        return RedirectResponse(f"{back}?msg={quote(done)}", 303)

    def text(form, key: str, limit: int = 200) -> str:
        value = form.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            raise HTTPException(400, f"field {key!r}: a non-empty text of at most {limit} characters")
        return value.strip()

    # ---- live ----
    async def live(request: Request):
        return page(request, "live.html", refresh_ms=int(1000 / ui.refresh_hz))

    def frame_jpeg(request: Request):  # sync: Starlette runs it on its thread pool, the encode off the event loop
        got = view.loop.latest.get()
        if got is None:
            return PlainTextResponse("no frame yet", 503)
        ok, jpeg = cv2.imencode(".jpg", got[0], [cv2.IMWRITE_JPEG_QUALITY, 75])
        return Response(jpeg.tobytes(), media_type="image/jpeg")

    async def live_json(request: Request):
        got = view.loop.latest.get()
        if got is None:
            return JSONResponse({"frame_id": None})
        image, meta = got
        overlay = view.loop.app.overlay()
        return JSONResponse(
            {"frame_id": meta.get("frame_id"), "width": image.shape[1], "height": image.shape[0], **overlay}
        )

    # ---- events ----
    async def events(request: Request):
        type_ = request.query_params.get("type") or None
        identity = request.query_params.get("identity") or None
        shown = view.events.recent(type_, identity)[:200]
        identities = sorted({e["identity"] for e in view.events.recent() if e.get("identity")})
        context = dict(events=shown, types=view.events.types(), identities=identities, type=type_, identity=identity)
        context["can_reject"] = view.has("reject")
        return page(request, "events.html", **context)

    async def event_crop(request: Request):
        path = view.events.crop_of(request.path_params["event_id"])
        crops = view.loop.cfg.events.crops_dir
        if path is None or not crops:
            return PlainTextResponse("no crop for this event", 404)
        path, crops = path.resolve(), Path(crops).expanduser().resolve()
        if crops not in path.parents or not path.is_file():  # only files the crop writer made, never elsewhere
            return PlainTextResponse("no crop for this event", 404)
        return Response(path.read_bytes(), media_type="image/jpeg")

    # ---- faces ----
    def faces(request: Request):  # sync: gallery reads (and the command lock) on the thread pool
        if not view.has("identities"):
            return page(request, "faces.html", identities=None, unknowns=None)
        identities = view.run("identities", {})["identities"]
        unknowns = view.run("unknowns", {}).get("visitors", []) if view.has("unknowns") else None
        return page(request, "faces.html", identities=identities, unknowns=unknowns)

    async def enroll(request: Request):
        form = await checked_form(request, guard, max_part)
        name, photo = text(form, "name", 64), form.get("photo")
        if photo is None or isinstance(photo, str):
            raise HTTPException(400, "field 'photo': choose a picture file")
        data = await photo.read(max_part + 1)
        if len(data) > max_part:
            raise HTTPException(413, f"picture over {max_part} bytes (ui.max_upload_bytes)")
        body = {
            "name": name,
            "image": base64.b64encode(data).decode(),
        }  # the enroll command decodes it, pixel cap first
        return await run(request, "enroll", body, "/faces", f"enrolled {name}")

    async def remove(request: Request):
        form = await checked_form(request, guard, max_part)
        name = text(form, "name", 64)
        return await run(request, "remove_identity", {"name": name}, "/faces", f"removed {name}")

    async def name_visitor(request: Request):
        form = await checked_form(request, guard, max_part)
        visitor, name = text(form, "visitor", 64), text(form, "name", 64)
        return await run(request, "name_visitor", {"visitor": visitor, "name": name}, "/faces", f"named {name}")

    async def reject(request: Request):
        form = await checked_form(request, guard, max_part)
        event_id = text(form, "event_id", 128)
        return await run(request, "reject", {"event_id": event_id}, "/events", "marked wrong")

    # ---- shelf ----
    async def shelf(request: Request):
        zones = []
        if view.loop.cfg.shelf is not None:
            zones = [{"name": z.name, "polygon": [list(p) for p in z.polygon]} for z in view.loop.cfg.shelf.zones]
        units = view.loop.cfg.shelf.zone_units if view.loop.cfg.shelf is not None else "pixel"
        saved = _saved_zones(view)
        return page(
            request, "shelf.html", zones=json.dumps(saved or zones), units=units, has_file=bool(view.config_path)
        )

    async def save_zones(request: Request):
        form = await checked_form(request, guard, max_part)
        try:
            zones = json.loads(text(form, "zones", 100_000))
        except json.JSONDecodeError as e:
            raise HTTPException(400, f"field 'zones': not JSON ({e.msg})") from None
        try:
            write_zones(view, zones)
        except EdgekitError as e:
            return PlainTextResponse(str(e), 400)
        return RedirectResponse(f"/shelf?msg={quote('zones saved: restart to apply')}", 303)

    async def restart(request: Request):
        await checked_form(request, guard, max_part)
        return await run(request, "restart", {}, "/", "restarting")

    # ---- health ----
    async def health(request: Request):
        return page(request, "health.html", latest=json.dumps(view.history.latest(), indent=1, default=str))

    async def health_json(request: Request):
        return JSONResponse(view.history.series())

    async def error(request: Request, exc: HTTPException):
        return PlainTextResponse(str(exc.detail), exc.status_code)

    routes = [
        *login_routes(guard, templates),
        Route("/", live),
        Route("/live.jpg", frame_jpeg),
        Route("/api/live", live_json),
        Route("/events", events),
        Route("/events/{event_id:str}/crop.jpg", event_crop),
        Route("/faces", faces),
        Route("/faces/enroll", enroll, methods=["POST"]),
        Route("/faces/remove", remove, methods=["POST"]),
        Route("/faces/name", name_visitor, methods=["POST"]),
        Route("/events/reject", reject, methods=["POST"]),
        Route("/shelf", shelf),
        Route("/shelf/zones", save_zones, methods=["POST"]),
        Route("/restart", restart, methods=["POST"]),
        Route("/health", health),
        Route("/api/health", health_json),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(ui.bind)),
        Middleware(GuardMiddleware, guard=guard, max_body=ui.max_upload_bytes + FORM_OVERHEAD),
    ]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: error})


def _clock(value) -> str:
    """An event's unix time as the device's local date and time."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(value)))
    except (TypeError, ValueError, OverflowError):
        return str(value or "")


def _saved_zones(view: SiteView) -> list | None:
    """The zones as the config file holds them now (saved since start, maybe not applied yet)."""
    if view.config_path is None or not view.config_path.is_file():
        return None
    try:
        data = yaml.safe_load(view.config_path.read_text()) or {}
        return [{"name": z["name"], "polygon": z["polygon"]} for z in data["shelf"]["zones"]]
    except (yaml.YAMLError, KeyError, TypeError):
        return None


def write_zones(view: SiteView, zones) -> None:
    """Replace the polygons of shelf.zones in the site's config file: zones keep their other keys (planogram,
    minimums) by name, and the file keeps its comments, order and indentation (ruamel.yaml's round trip: a person
    wrote this file); the whole config is validated before the file is replaced (atomically, same mode)."""
    from ruamel.yaml import YAML, YAMLError
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.util import load_yaml_guess_indent

    path = view.config_path
    if path is None:
        raise EdgekitError("shelf zones: this site runs without a config file", "start it with `edgekit run --config`")
    if not isinstance(zones, list) or not all(isinstance(z, dict) for z in zones):
        raise EdgekitError("shelf zones: expected a list of {name, polygon}", "draw at least one zone")
    try:
        data, indent, offset = load_yaml_guess_indent(path.read_text())
    except YAMLError as e:
        raise EdgekitError(f"config {path}: not YAML ({str(e).splitlines()[0]})", "fix the file by hand") from None
    shelf = data.get("shelf") if isinstance(data, dict) else None
    if not isinstance(shelf, dict):
        raise EdgekitError(f"config {path}: has no 'shelf' section", "the zone editor is for app: shelf")
    old = {z.get("name"): z for z in shelf.get("zones") or [] if isinstance(z, dict)}
    new = CommentedSeq()
    for z in zones:
        zone = old.get(z.get("name")) or CommentedMap(name=z.get("name"))
        polygon = z.get("polygon")
        if isinstance(polygon, list):
            polygon = CommentedSeq(polygon)
            polygon.fa.set_flow_style()  # [[x, y], ...] on one line, as people write polygons
        zone["polygon"] = polygon
        new.append(zone)
    shelf["zones"] = new
    rt = YAML()
    rt.indent(mapping=indent or 2, sequence=indent or 2, offset=offset or 0)  # as ruamel.yaml's docs pair them
    out = io.StringIO()
    rt.dump(data, out)
    parse_config(yaml.safe_load(out.getvalue()), f"config {path}")  # what is written: one line naming a bad key
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(out.getvalue())
    os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)


class UiServer:
    """uvicorn on its own thread (no signal handlers: the site's GracefulStop owns them)."""

    def __init__(self, app, host: str, port: int, history: TelemetryHistory, view: SiteView | None = None):
        import uvicorn

        self.view = view  # the site behind the page (tests stop its loop through it)
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False, limit_concurrency=32
        )  # a Pi serves a few people, not a crowd: more connections at once are answered 503
        self.server, self.history = uvicorn.Server(config), history
        self.thread = threading.Thread(target=self._serve, name="ui", daemon=True)

    def _serve(self) -> None:
        try:
            self.server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; start() reports that as one line
            pass

    def start(self, timeout: float = 10.0) -> UiServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise EdgekitError(
                    f"ui: cannot serve on {self.server.config.host}:{self.server.config.port}",
                    "is the port in use? set ui.port to a free one",
                )
            time.sleep(0.02)
        return self

    @property
    def url(self) -> str:
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"

    def stop(self) -> None:
        self.history.stop()
        self.server.should_exit = True
        self.thread.join(5)


def start_ui(ui, loop, commands: dict, events: EventLog, link=None, config_path=None) -> UiServer:
    def telemetry() -> dict:
        data = loop.telemetry()
        if link is not None:
            data.update({k: v for k, v in link.telemetry().items() if k not in data})
        return data

    history = TelemetryHistory(telemetry, ui.sample_s, ui.history_s).start()
    view = SiteView(loop, commands, events, history, Path(config_path) if config_path else None)
    try:
        return UiServer(make_app(view, ui), ui.bind, ui.port, history, view).start()
    except BaseException:
        history.stop()
        raise
