"""Why a stream URL does not open, in words a user can act on.

OpenCV's VideoCapture only says "not opened"; FFmpeg's reason (401, 404, refused) goes to its own log. After a failed
open this asks the camera once, with the same URL: HTTP through urllib, RTSP with a single DESCRIBE request (the
status line is all we need; the stream itself is always read by FFmpeg)."""

from __future__ import annotations

import base64
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from edge.capture.urls import credentials, scheme, without_credentials

DEFAULT_PORTS = {"rtsp": 554, "http": 80, "https": 443}


@dataclass
class Diagnosis:
    reason: str
    fix: str
    permanent: bool  # the URL or its credentials are wrong: retrying will not help


def diagnose(uri: str, timeout_s: float) -> Diagnosis | None:
    kind = scheme(uri)
    try:
        if kind in ("http", "https"):
            status = _http_status(uri, timeout_s)
        elif kind == "rtsp":
            status = _rtsp_status(uri, timeout_s)
        else:
            return None
    except ConnectionRefusedError:
        return Diagnosis(
            "connection refused", "check the host and port in source.uri, and that the camera is on", False
        )
    except socket.gaierror:
        return Diagnosis("host name not found", "check the host in source.uri", False)
    except TimeoutError:
        return Diagnosis(f"no answer within {timeout_s:g} s", "check the camera is reachable from here", False)
    except OSError as e:
        return Diagnosis(e.strerror or str(e), "check the camera and the network", False)
    return _from_status(status, credentials(uri) is not None)


def _from_status(status: int | None, had_credentials: bool) -> Diagnosis | None:
    if status in (401, 403):
        what = "refused the user name or password" if had_credentials else "needs a user name and password"
        return Diagnosis(
            f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}: the camera {what}",
            "put the right ones in source.uri (scheme://user:password@host/...)",
            True,
        )
    if status == 404:
        return Diagnosis(
            "404 Not Found: no stream at that path", "check the path in source.uri (the camera's manual names it)", True
        )
    if status is not None and status >= 400:
        return Diagnosis(f"the camera answered {status}", "check source.uri", False)
    return None  # it answers fine: the stream itself did not decode


def _basic(uri: str) -> str | None:
    creds = credentials(uri)
    return None if creds is None else "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()


def _http_status(uri: str, timeout_s: float) -> int | None:
    request = urllib.request.Request(without_credentials(uri), method="GET")
    auth = _basic(uri)
    if auth:
        request.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # a stream: read nothing, close
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except urllib.error.URLError as e:
        raise e.reason if isinstance(e.reason, OSError) else OSError(str(e.reason)) from None


def _rtsp_status(uri: str, timeout_s: float) -> int | None:
    parts = urlsplit(uri)
    lines = [f"DESCRIBE {without_credentials(uri)} RTSP/1.0", "CSeq: 1", "Accept: application/sdp"]
    auth = _basic(uri)
    if auth:
        lines.append(f"Authorization: {auth}")
    with socket.create_connection((parts.hostname, parts.port or DEFAULT_PORTS["rtsp"]), timeout=timeout_s) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = s.makefile("rb").readline(200).decode("latin-1").split()
    if len(status_line) >= 2 and status_line[0].startswith("RTSP/") and status_line[1].isdigit():
        return int(status_line[1])
    return None
