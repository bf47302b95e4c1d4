"""The device's web page (`ui:` in the site config): live view, events, faces, shelf zones, health. `security` holds
the auth both this page and `edgekit fleet ui` use; `config` the `ui:` section (stdlib + pydantic only, so a config
validates without the `ui` extra installed); `server` the Starlette app and its thread."""
