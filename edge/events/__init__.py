"""Events: typed (edge.events.types), emitted through one bus (edge.events.bus) that stamps id and time, runs the
enrichers, lets watchers react and hands the JSON to the sinks (edge.events.sinks; the MQTT outbox is one)."""

from edge.events.bus import EventBus
from edge.events.sinks import EventSink, JsonLinesSink
from edge.events.types import Event

__all__ = ["Event", "EventBus", "EventSink", "JsonLinesSink"]
