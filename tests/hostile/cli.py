"""The public CLI in a real process, as a user runs it, and the one shape of its refusals: what the input and the
security reproductions share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli_env(extra: dict | None = None) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), **(extra or {})}


def edgekit(
    *args, timeout: float = 300, env: dict | None = None, wrap: list[str] | None = None, umask: int | None = None
):
    """`edgekit ARGS` (optionally under a wrapper command or another umask); LiteRT's C++ INFO lines are dropped
    from stderr."""
    cmd = [*(wrap or []), sys.executable, "-m", "edge.cli", *map(str, args)]
    r = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=cli_env(env),
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )
    r.stderr = "".join(line for line in r.stderr.splitlines(True) if not line.startswith("INFO: "))
    return r


def one_line_error(r, *fragments: str) -> str:
    """The command failed with exactly one `error: ...` line on stderr (no traceback) holding every fragment."""
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr[-3000:]
    for f in fragments:
        assert f in errors[0], errors[0]
    return errors[0]
