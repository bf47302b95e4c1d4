"""A model update taken into the running app: the app reloads the model if it runs it (the link then re-publishes
the versions)."""

from __future__ import annotations

from pathlib import Path

from edge.apps.base import App


def model_versions(app: App) -> dict:
    """What `status` and `state` report: card name -> target and sha256 of the running file."""
    return {name: {"target": m.card.target, "sha256": m.card.sha256} for name, m in app.models().items()}


def swap_in(app: App, name: str, card_path: Path) -> bool:
    """Take model `name` into the app; False if the app does not run it; EdgekitError if it cannot use it."""
    if name not in app.models():
        return False
    app.reload_model(name, card_path)
    return True
