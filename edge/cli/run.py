"""`edgekit run --config site.yaml`: the device loop with the parts the site config switches on."""
from __future__ import annotations

import json

import click

from edge.config import load_config


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(), help="site YAML (see configs/doorbell.yaml)")
@click.option("--max-frames", type=int, default=None, help="stop after this many processed frames")
def run(config_path, max_frames):
    """Run the doorbell loop on the configured source. Events go to stdout/file as JSON lines (and MQTT, if
    configured); SIGTERM or Ctrl-C stops it gracefully. A summary line goes to stderr at the end."""
    from edge.agent import run_site

    stats = run_site(load_config(config_path), max_frames)
    click.echo(json.dumps({"type": "run_summary", **stats}), err=True)
