"""Camera URLs: which ones are network streams, and the same URL with its secrets masked for logs, events and state.

Cameras take credentials in the URL's userinfo (rtsp://admin:secret@cam/...) and, on many HTTP cameras and ESP32
sketches, in the query (?user=admin&pwd=secret). Both are masked wherever a URL leaves the capture code."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")
MASK = "***"
# query keys that carry a secret (case-insensitive, whole key)
SECRET_KEYS = re.compile(r"^(pass(word)?|pwd|passwd|token|key|secret|auth|sig(nature)?|access_token|api_key)$", re.I)


def is_stream_url(uri: str) -> bool:
    return "://" in uri and uri.split("://", 1)[0].lower() in STREAM_SCHEMES


def scheme(uri: str) -> str:
    return uri.split("://", 1)[0].lower() if "://" in uri else ""


def mask_url(uri: str) -> str:
    """The URL with its password (userinfo) and secret query values replaced by ***; other text unchanged."""
    if "://" not in uri:
        return uri
    try:
        parts = urlsplit(uri)
    except ValueError:  # not parseable as a URL: mask everything between :// and the last @ to be safe
        head, rest = uri.split("://", 1)
        return f"{head}://{MASK}@{rest.rsplit('@', 1)[1]}" if "@" in rest else uri
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(SECRET_KEYS.match(k) for k, _ in pairs):
            query = urlencode([(k, MASK if SECRET_KEYS.match(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def credentials(uri: str) -> tuple[str, str] | None:
    """(user, password) from the URL's userinfo, percent-decoded; None without one."""
    netloc = urlsplit(uri).netloc
    if "@" not in netloc:
        return None
    user, _, password = netloc.rsplit("@", 1)[0].partition(":")
    return unquote(user), unquote(password)


def without_credentials(uri: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, parts.query, parts.fragment))


def mask_text(text: str, uri: str) -> str:
    """`text` (an error message, say) with every copy of the URL or of its password masked."""
    masked = text.replace(uri, mask_url(uri))
    creds = credentials(uri) if "://" in uri else None
    if creds and creds[1]:
        for secret in {creds[1], quote(creds[1], safe="")}:
            masked = masked.replace(secret, MASK)
    return masked
