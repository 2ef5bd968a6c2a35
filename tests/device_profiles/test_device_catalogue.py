"""The device catalogue: every entry loads, every `extends` resolves, every entry has a vector, and a broken
entry fails naming its file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from device_vectors import VECTORS

from device_profiles import CatalogueError
from device_profiles.device_catalogue import load_devices, parse_devices
from device_profiles.device_docs import render_devices

REPO = Path(__file__).resolve().parents[2]

GOOD = """
family: test_family
description: A family for tests.
entries:
  - id: base-sensor
    abstract: true
    identity: {vendor: V, model: M, name: N}
    transport: mqtt
    match: {topic: "zigbee2mqtt/+"}
    codec: z2m_json
    mapping: {fields: {battery: {metric: device.battery, type: number}}}
    metrics: [device.battery]
    reporting: {mode: event, supervision: last seen}
    source: {kind: manual, ref: a manual}
    verified: true
  - id: child
    extends: base-sensor
    identity: {model: M2}
"""


def test_every_entry_loads_and_at_least_twenty_products() -> None:
    devices = load_devices()
    assert len(devices.products) >= 20
    for entry in devices.entries.values():
        assert entry.extends is None or entry.extends in devices


def test_extends_inherits_everything_but_identity_fields_given() -> None:
    devices = load_devices()
    child, parent = devices["omron-evolv-hem-7600t"], devices["sig-blood-pressure"]
    assert child.identity.vendor == "Omron"
    assert (child.codec, child.characteristics, child.match) == (parent.codec, parent.characteristics, parent.match)
    assert not child.abstract


def test_every_entry_has_a_vector() -> None:
    covered = {vector.entry for vector in VECTORS}
    assert set(load_devices().entries) - covered == set()


def test_every_welfare_mqtt_device_has_a_vector() -> None:
    mqtt = {entry.id for entry in load_devices().products if entry.transport == "mqtt"}
    assert mqtt <= {vector.entry for vector in VECTORS}


def test_unverified_entries_are_marked_in_the_docs() -> None:
    page = render_devices(load_devices())
    for entry in load_devices().products:
        assert f"`{entry.id}`" in page
    assert "**unverified**" in page


def test_committed_devices_page_is_current() -> None:
    committed = (REPO / "docs" / "devices.md").read_text(encoding="utf-8")
    assert committed == render_devices(load_devices()), "docs/devices.md is stale: run `make devices-doc`"


def test_good_catalogue_parses_and_resolves() -> None:
    catalogue = parse_devices([("test.yaml", GOOD)])
    assert catalogue["child"].identity.model == "M2"
    assert catalogue["child"].identity.vendor == "V"
    assert [entry.id for entry in catalogue.products] == ["child"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("codec: z2m_json", "codec: bthome_v2", "broken.yaml: base-sensor: (entry): Value error, codec bthome_v2"),
        ("metric: device.battery", "metric: device.batery", "unknown metrics ['device.batery']"),
        ("mode: event, supervision: last seen", "mode: event", "needs `supervision`"),
        ("extends: base-sensor", "extends: nowhere", "broken.yaml: child: extends: no entry 'nowhere'"),
        ("transport: mqtt", "transport: zigbee", "broken.yaml: base-sensor: transport: Input should be"),
        ("verified: true", "verified: maybe", "broken.yaml: base-sensor: verified:"),
        ("    source: {kind: manual, ref: a manual}\n", "", "broken.yaml: base-sensor: source: Field required"),
        ("type: number}", "type: number, colour: red}", "mapping.fields.battery.colour: Unexpected keyword argument"),
        ("id: child", "id: base-sensor", "id also used in broken.yaml"),
        ("description: A family for tests.", "", "broken.yaml: description: Field required"),
        (
            'match: {topic: "zigbee2mqtt/+"}',
            'match: {topic: "zigbee2mqtt/+", local_name: "UA-(651"}',
            "broken.yaml: base-sensor: match: Value error, local_name is not a regular expression: missing )",
        ),
        (
            "identity: {model: M2}",
            "identity: M2",
            "broken.yaml: child: identity: a mapping of the fields it changes is required",
        ),
    ],
)
def test_broken_entry_names_file_and_field(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(CatalogueError) as caught:
        parse_devices([("broken.yaml", GOOD.replace(old, new))])
    assert message in str(caught.value)


def test_extends_cycle_is_rejected() -> None:
    cyclic = GOOD.replace("    abstract: true\n", "    abstract: true\n    extends: child\n")
    with pytest.raises(CatalogueError, match="cycle"):
        parse_devices([("cyclic.yaml", cyclic)])


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("zigbee2mqtt/hall_door", True),
        ("zigbee2mqtt/hall_door/availability", False),
        ("zigbee2mqtt", False),
        ("other/hall_door", False),
    ],
)
def test_topic_pattern(topic: str, expected: bool) -> None:
    assert load_devices()["aqara-door-window-mccgq11lm"].match.topic_matches(topic) is expected
