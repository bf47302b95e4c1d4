"""Auth for edgekit's web pages (the device's `ui:` and the operator's `edgekit fleet ui`), standard library only so
config validation needs no web framework:
- bind rules: loopback needs nothing; any other address needs a password hash or a token (`check_bind`);
- passwords stored as scrypt hashes (`hash_password` / `verify_password`), tokens as their SHA-256 (a token is random
  and long, so a plain hash suffices), both compared in constant time;
- sessions: a random id in an HttpOnly SameSite=Strict cookie, kept in memory (a restart logs everyone out);
- CSRF: every POST carries `csrf` (form field or X-CSRF-Token header) = HMAC(process secret, session id)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
import threading
import time

from edge.errors import EdgekitError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # ~16 MiB, ~50 ms on a Pi 4: a login, not a hot path
SESSION_COOKIE = "edgekit_session"
CSRF_FIELD, CSRF_HEADER = "csrf", "x-csrf-token"
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash` (base64), the form `ui.password_hash` takes."""
    if not password:
        raise EdgekitError("password: empty", "choose a non-empty password")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(digest)}"


def parse_password_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """ValueError (for a config validator) unless `stored` is what `hash_password` writes."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            raise ValueError
        n, r, p = int(n), int(r), int(p)
        salt, digest = base64.b64decode(salt, validate=True), base64.b64decode(digest, validate=True)
    except ValueError:
        raise ValueError("not an scrypt hash: make one with `edgekit ui hash-password`") from None
    if n < 2**10 or n & (n - 1) or not (1 <= r <= 32 and 1 <= p <= 16) or len(salt) < 8 or len(digest) < 16:
        raise ValueError("scrypt parameters out of range: make a new hash with `edgekit ui hash-password`")
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    n, r, p, salt, digest = parse_password_hash(stored)
    got = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=256 * 1024 * 1024)
    return hmac.compare_digest(got, digest)


def new_token() -> tuple[str, str]:
    """(a random token to hand out, its SHA-256 hex for the config's `token_sha256`)."""
    token = secrets.token_urlsafe(32)
    return token, token_sha256(token)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1, and names that resolve only to those (`localhost`)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if host in LOOPBACK_NAMES:
        return True
    try:
        addrs = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


def check_bind(bind: str, password_hash: str | None, token_sha256: str | None, key: str = "ui") -> None:
    """EdgekitError naming the key when a non-loopback bind has neither a password nor a token."""
    if not is_loopback(bind) and not password_hash and not token_sha256:
        raise EdgekitError(
            f"{key}.bind {bind}: not a loopback address, so {key}.password_hash or {key}.token_sha256 is required",
            f"run `edgekit ui hash-password` and set {key}.password_hash, or bind {key}.bind to 127.0.0.1",
        )


def allowed_hosts(bind: str, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Host headers to accept. Loopback binds accept only loopback names, so a web page elsewhere cannot reach the
    page through DNS rebinding (a name of its own resolving to 127.0.0.1); other binds accept any host, since they
    require a login anyway."""
    if not is_loopback(bind):
        return ["*"]
    return ["127.0.0.1", "localhost", "::1", "[::1]", bind, *extra]


class Guard:
    """Who may see the pages and who may act. `open_access`: a loopback bind with no password or token, where
    anyone on the machine is trusted (as with the CLI); sessions and CSRF still apply, so a web page in the same
    browser cannot post to the device."""

    SESSION_S = 12 * 3600
    MAX_SESSIONS = 256

    def __init__(self, password_hash: str | None = None, token_sha256: str | None = None):
        if password_hash:
            parse_password_hash(password_hash)
        self.password_hash, self.token_hash = password_hash, token_sha256
        self._secret = secrets.token_bytes(32)
        self._sessions: dict[str, float] = {}  # session id -> expiry (monotonic)
        self._lock = threading.Lock()

    @property
    def open_access(self) -> bool:
        return not self.password_hash and not self.token_hash

    def credentials_ok(self, secret: str) -> bool:
        """The password, or the token (a login form takes either)."""
        if not isinstance(secret, str) or not secret or len(secret) > 1024:
            return False
        ok = False
        if self.token_hash:
            ok |= hmac.compare_digest(token_sha256(secret), self.token_hash)
        if self.password_hash:
            ok |= verify_password(secret, self.password_hash)
        return ok

    def bearer_ok(self, header: str | None) -> bool:
        """`Authorization: Bearer TOKEN` (scripts; no session, no CSRF needed: a browser never sends it by itself)."""
        if not self.token_hash or not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(token_sha256(header[7:].strip()), self.token_hash)

    def new_session(self) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._sessions = {s: t for s, t in self._sessions.items() if t > now}
            if len(self._sessions) >= self.MAX_SESSIONS:  # drop the oldest: a flood of logins cannot grow memory
                del self._sessions[min(self._sessions, key=self._sessions.get)]
            self._sessions[sid] = now + self.SESSION_S
        return sid

    def session_ok(self, sid: str | None) -> bool:
        if not sid:
            return False
        with self._lock:
            expiry = self._sessions.get(sid)
        return expiry is not None and expiry > time.monotonic()

    def end_session(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    def csrf_token(self, sid: str) -> str:
        return hmac.new(self._secret, sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, sid: str | None, token: str | None) -> bool:
        if not sid or not token or not isinstance(token, str):
            return False
        return hmac.compare_digest(self.csrf_token(sid), token)
