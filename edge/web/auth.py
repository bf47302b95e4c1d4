"""edge.web.security in a Starlette app: the session/login middleware, the login page's routes, the CSRF check of a
POSTed form, body-size limits and the security headers. Used by the device page and `edgekit fleet ui`."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from edge.web.security import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Guard

PUBLIC = ("/login", "/static/")
FAILED_LOGIN_DELAY_S = 1.0
HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "content-security-policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
    "cache-control": "no-store",
}


class GuardMiddleware(BaseHTTPMiddleware):
    """Every request: body size bounded by Content-Length (POSTs must say it), then a session (open access: made on
    the first visit; otherwise from the login) or a bearer token; `request.state.sid` / `.csrf` for the pages."""

    def __init__(self, app, guard: Guard, max_body: int):
        super().__init__(app)
        self.guard, self.max_body = guard, max_body

    async def dispatch(self, request: Request, call_next) -> Response:
        if request.method not in ("GET", "HEAD", "POST"):
            return self._headers(PlainTextResponse("method not allowed", 405))
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is None or not length.isdigit():
                return self._headers(PlainTextResponse("a POST needs a Content-Length", 411))
            if int(length) > self.max_body:
                return self._headers(
                    PlainTextResponse(f"request over {self.max_body} bytes (ui.max_upload_bytes)", 413)
                )
        sid = request.cookies.get(SESSION_COOKIE)
        new_sid = None
        request.state.bearer = self.guard.bearer_ok(request.headers.get("authorization"))
        if not self.guard.session_ok(sid):
            sid = None
            if self.guard.open_access:
                sid = new_sid = self.guard.new_session()
        request.state.sid = sid
        request.state.csrf = self.guard.csrf_token(sid) if sid else ""
        if sid is None and not request.state.bearer and not request.url.path.startswith(PUBLIC):
            if request.method == "GET" and not request.url.path.startswith("/api/"):
                return self._headers(RedirectResponse(f"/login?next={quote(request.url.path)}", 303))
            return self._headers(PlainTextResponse("log in first", 401))
        response = await call_next(request)
        if new_sid:
            set_session_cookie(response, new_sid)
        return self._headers(response)

    @staticmethod
    def _headers(response: Response) -> Response:
        for k, v in HEADERS.items():
            response.headers.setdefault(k, v)
        return response


def set_session_cookie(response: Response, sid: str) -> None:
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", max_age=Guard.SESSION_S, path="/")


async def checked_form(request: Request, guard: Guard, max_part: int) -> FormData:
    """The POSTed form, after its CSRF token (field `csrf` or header X-CSRF-Token) matched the session's: 403 else.
    A bearer-token request needs none (a browser never adds that header by itself)."""
    try:
        form = await request.form(max_files=1, max_fields=64, max_part_size=max_part)
    except HTTPException:
        raise
    except Exception:  # noqa: BLE001 - python-multipart's parse errors: the client sent garbage
        raise HTTPException(400, "malformed form") from None
    if request.state.bearer:
        return form
    token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not guard.csrf_ok(request.state.sid, token if isinstance(token, str) else None):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return form


def login_routes(guard: Guard, templates) -> list[Route]:
    async def login_page(request: Request):
        return templates.TemplateResponse(request, "login.html", {"next": _safe_next(request), "error": None})

    async def login(request: Request):
        form = await request.form(max_files=0, max_fields=8, max_part_size=4096)
        secret = form.get("password")
        if not guard.credentials_ok(secret if isinstance(secret, str) else ""):
            await asyncio.sleep(FAILED_LOGIN_DELAY_S)  # slows guessing; other requests go on meanwhile
            context = {"next": _safe_next(request, form.get("next")), "error": "wrong password or token"}
            return templates.TemplateResponse(request, "login.html", context, status_code=401)
        response = RedirectResponse(_safe_next(request, form.get("next")), 303)
        set_session_cookie(response, guard.new_session())
        return response

    async def logout(request: Request):
        await checked_form(request, guard, 4096)
        guard.end_session(request.state.sid)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


def _safe_next(request: Request, value=None) -> str:
    """Only a local path (never another site: an open redirect)."""
    value = value if isinstance(value, str) else request.query_params.get("next", "/")
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"
