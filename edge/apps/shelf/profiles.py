"""Detector profiles of a shelf config: named sets of shelf keys (detector, tiles, thresholds, zones...) laid over
the section's own, one chosen by `profile:` (or `edgekit shelf ... --profile NAME`). A COCO detector and a product
detector want different classes, tiling and planograms; one file keeps both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError


def apply_profile(data: Any, allowed: set[str], validate: Callable[[dict], Any]) -> Any:
    """The shelf section with its chosen profile's keys laid over it (top-level keys replaced, not merged). Every
    profile is validated at load, chosen or not, so a typo in one shows before anyone switches to it."""
    if not isinstance(data, dict):
        return data
    profiles = data.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ValueError("profiles: expected a mapping of name -> shelf keys")
    for name, over in profiles.items():
        if not isinstance(over, dict):
            raise ValueError(f"profiles.{name}: expected a mapping of shelf keys")
        unknown = sorted(set(over) - allowed - {"profile", "profiles"})
        if unknown:
            raise ValueError(f"profiles.{name}: unknown key(s) {unknown}")
        try:
            validate({**data, **over, "profile": None, "profiles": {}})
        except ValidationError as e:
            err = e.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"profiles.{name}.{key}: {err['msg']}") from None
    name = data.get("profile")
    if name is None:
        return data
    if name not in profiles:
        raise ValueError(f"profile '{name}' is not defined (profiles: {', '.join(profiles) or 'none'})")
    return {**data, **profiles[name]}
