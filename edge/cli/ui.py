"""`edgekit ui ...`: the device web page's helpers (the page itself runs with `edgekit run` when `ui:` is set)."""

from __future__ import annotations

import click


@click.group()
def ui():
    """The device web page (`ui:` in the site config)."""


@ui.command("hash-password")
@click.option("--token", is_flag=True, help="make a random token instead: prints it and its ui.token_sha256")
def hash_password(token):
    """Read a password (asked twice, not echoed) and print the `ui.password_hash` line for the site config."""
    from edge.web.security import hash_password as make_hash
    from edge.web.security import new_token

    if token:
        secret, digest = new_token()
        click.echo(f"token (give it to whoever logs in; it is shown once): {secret}", err=True)
        click.echo(f"token_sha256: {digest}")
        return
    password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    click.echo(f'password_hash: "{make_hash(password)}"')
