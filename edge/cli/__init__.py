"""`edgekit`: thin commands (parse, call, print). Subcommands load lazily so `edgekit --help` stays fast and the
device never imports the converters unless `convert`/`models build` is asked for."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from edge.errors import EdgekitError

# name -> "module:attribute"; each module owns its commands.
COMMANDS = {
    "convert": "edge.cli.convert:convert",
    "models": "edge.cli.models:models",
    "bench": "edge.cli.bench:bench",
    "run": "edge.cli.run:run",
    "demo": "edge.cli.demo:demo",
    "faces": "edge.cli.faces:faces",
    "fleet": "edge.cli.fleet:fleet",
    "shelf": "edge.cli.shelf:shelf",
    "detect": "edge.cli.detect:detect",
    "install": "edge.cli.install:install",
    "ui": "edge.cli.ui:ui",
}


class LazyGroup(click.Group):
    """A group whose subcommands live in other modules, imported only when called (`lazy` maps name -> module:attr)."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy if lazy is not None else COMMANDS

    def list_commands(self, ctx):
        return sorted(name for name, target in self.lazy.items() if importlib.util.find_spec(target.split(":")[0]))

    def get_command(self, ctx, name):
        target = self.lazy.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as e:
            if e.name == module:
                return None
            raise


@click.group(cls=LazyGroup)
@click.version_option(package_name="edgekit")
def cli():
    """edgekit: vision models on edge devices."""


def main(argv=None):
    try:
        rv = cli.main(args=argv, standalone_mode=False)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
    except EdgekitError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except SystemExit:
        raise
