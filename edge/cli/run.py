"""`edgekit run --config site.yaml`: the device loop."""
from __future__ import annotations

import json
import signal
import sys

import click

from edge.config import load_config
from edge.events import FanoutSink, JsonLinesSink


def make_sink(cfg):
    sinks = []
    if cfg.events.stdout:
        sinks.append(JsonLinesSink(stream=sys.stdout))
    if cfg.events.file:
        sinks.append(JsonLinesSink(path=cfg.events.file))
    return FanoutSink(*sinks)


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(), help="site YAML")
@click.option("--max-frames", type=int, default=None, help="stop after this many processed frames")
def run(config_path, max_frames):
    """Run the doorbell loop on the configured source; events go to stdout/file as JSON lines."""
    from edge.agent import DoorbellAgent

    cfg = load_config(config_path)
    sink = make_sink(cfg)
    agent = DoorbellAgent(cfg, sink)
    signal.signal(signal.SIGTERM, lambda *_: agent.capture.stop())
    try:
        stats = agent.run(max_frames)
    except KeyboardInterrupt:
        agent.capture.stop()
        stats = agent.stats()
    finally:
        sink.close()
    click.echo(json.dumps({"type": "run_summary", **stats}), err=True)
