"""The pip requirements of what the Home Assistant check loads: Home Assistant's default integrations (set up
whatever the configuration says, and goes to recovery mode without the frontend) and the ones the check configures,
with their dependencies; run with the Home Assistant venv's Python, prints one requirement a line."""

import json
import sys
from pathlib import Path

from homeassistant import bootstrap, components

WANTED = {"mqtt", "camera", "binary_sensor", "sensor", "api", "config", "onboarding", "http"}


def main() -> None:
    root = Path(components.__file__).parent
    todo = set(WANTED) | bootstrap.DEFAULT_INTEGRATIONS
    seen, reqs = set(), set()
    while todo:
        domain = todo.pop()
        manifest = root / domain / "manifest.json"
        if domain in seen or not manifest.exists():
            continue
        seen.add(domain)
        m = json.loads(manifest.read_text())
        reqs.update(m.get("requirements", []))
        todo.update(m.get("dependencies", []))
    sys.stdout.write("".join(f"{r}\n" for r in sorted(reqs)))


if __name__ == "__main__":
    main()
