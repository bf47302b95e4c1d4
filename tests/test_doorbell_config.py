"""The site config: the shipped example (with its commented optional parts) loads; wrong keys name themselves."""

from pathlib import Path

import pytest
import yaml

from edge.config import load_config, parse_config
from edge.errors import EdgekitError

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "doorbell.yaml"


def test_the_commented_optional_sections_of_the_example_are_valid_when_uncommented():
    text = EXAMPLE.read_text()
    tail = text.split("# Optional parts")[1].splitlines()[1:]
    extra = yaml.safe_load("\n".join(line[2:] for line in tail))
    assert set(extra) == {"mqtt", "peripherals", "ui"}
    cfg = parse_config({**yaml.safe_load(text), **extra})
    assert cfg.peripherals.relay.authorized == ["alice", "bob"] and cfg.mqtt.port == 1883
    assert cfg.ui.bind == "127.0.0.1"


def test_optional_parts_are_off_unless_configured():
    cfg = load_config(EXAMPLE)
    assert cfg.mqtt is None and cfg.peripherals is None and cfg.shelf is None


@pytest.mark.parametrize(
    "data,message",
    [
        ({"mqtt": {"hots": "x"}}, "key 'mqtt.hots'.*remove it or check its spelling"),
        ({"mqtt": {"port": 70000}}, "key 'mqtt.port'"),
        (
            {"peripherals": {"relay": {"port": {"url": "ttyUSB0"}, "authorized": ["a"]}}},
            "peripherals.relay.port.url.*not a device path",
        ),
        (
            {"peripherals": {"triggers": {"port": {"url": "loop://"}, "kinds": ["DOORBELL"]}}},
            "peripherals.triggers.kinds",
        ),
        ({"embedder": {"align": "sideways"}}, "key 'embedder.align"),
        ({"tracking": {"embed_sharpen": 0.5}}, "key 'tracking.embed_sharpen'"),
        ({"source": {"kind": "webcam"}}, "key 'source.kind'"),
    ],
)
def test_a_wrong_value_in_any_section_is_one_line_naming_it(data, message):
    with pytest.raises(EdgekitError, match=message) as e:
        parse_config(data, "site.yaml")
    assert "\n" not in str(e.value)


def test_crop_names_and_booleans_for_align():
    assert parse_config({"embedder": {"align": "template"}}).embedder.align == "template"
    assert parse_config({"embedder": {"align": False}}).embedder.align is False


def test_bad_yaml_is_named(tmp_path):
    p = tmp_path / "site.yaml"
    p.write_text("source: {uri: [\n")
    with pytest.raises(EdgekitError, match="not valid YAML"):
        load_config(p)


def test_the_pipeline_benchs_never_deciding_thresholds_are_a_valid_config():
    """`edgekit bench pipeline` runs its worst case (every face embedded on every frame) with these: the config
    check refused them (unknown -1) and the whole bench stopped with an error."""
    from edge.bench.pipeline import NEVER_DECIDE
    from edge.config import parse_config

    assert parse_config({"thresholds": NEVER_DECIDE}).thresholds.max_attempts == NEVER_DECIDE["max_attempts"]
