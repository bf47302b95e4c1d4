"""`edgekit bench ...`: benchmarks print figures (they are commands, not timed tests)."""

import click

from edge.cli import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "model": "edge.bench.model:command",
        "pipeline": "edge.bench.pipeline:command",
        "mqtt": "edge.bench.mqtt:command",
        "shelf": "edge.bench.shelf:command",
        "serial": "edge.bench.serial:command",
        "update": "edge.bench.update:command",
        "ingest": "fleetctl.bench_ingest:command",
        "cpu": "edge.bench.cpu:command",
        "ui": "edge.bench.ui:command",
        "fleet": "fleetctl.bench_fleet:command",
    },
)
def bench():
    """Benchmarks: model, pipeline, mqtt, update, shelf, serial, ingest, cpu, ui, fleet."""
