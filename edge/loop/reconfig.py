"""Part of the site config changed while running (the MQTT `set_config` command). The merged config is validated as
a whole first, so a bad value changes nothing; a section the app cannot take live is refused by name."""

from __future__ import annotations

from edge.config import SiteConfig, parse_config
from edge.errors import EdgekitError


def merge(base: dict, changes: dict) -> dict:
    """`changes` laid over `base`, section by section (nested dicts merge, anything else replaces)."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def reconfigured(cfg: SiteConfig, changes, live: frozenset[str]) -> tuple[SiteConfig, list[str]]:
    """(the new config, the sections that changed); EdgekitError naming the key or the section otherwise."""
    if not isinstance(changes, dict) or not changes:
        raise EdgekitError(
            "set_config: 'config' must be a non-empty object of sections", 'e.g. {"thresholds": {"recognize": 0.65}}'
        )
    current = cfg.model_dump(mode="json")
    # what the site set, not every default: thresholds it leaves out must keep coming from the embedder's card
    new = parse_config(merge(cfg.model_dump(mode="json", exclude_unset=True), changes), "set_config")
    after = new.model_dump(mode="json")
    changed = sorted(k for k in after if after[k] != current.get(k))
    refused = [k for k in changed if k not in live]
    if refused:
        raise EdgekitError(
            f"set_config: {', '.join(refused)} cannot change while running (live: {', '.join(sorted(live)) or 'none'})",
            "change the site YAML and restart",
        )
    return new, changed
