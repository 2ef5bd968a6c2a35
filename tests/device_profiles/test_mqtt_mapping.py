"""The JSON mapping engine: wrong shapes, wrong types and unknown fields never crash it."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from profile_helpers import PROPERTY, RECEIVED

from device_profiles import DecodeError
from device_profiles.device_catalogue import load_devices
from device_profiles.mqtt_mapping import JsonMapping, map_payload

DOOR = load_devices()["aqara-door-window-mccgq11lm"].mapping
BUTTON = load_devices()["aqara-wireless-mini-switch-wxkg11lm"].mapping
assert DOOR is not None and BUTTON is not None

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from(["contact", "battery", "linkquality", "action", "voltage", "other"]) | st.text(max_size=6)


def mapped(mapping: JsonMapping, payload: str) -> dict[str, object]:
    decoded = map_payload(mapping, payload, device_id="t", received_at=RECEIVED)
    return {"readings": {o.metric: o.value for o in decoded.observations}, **decoded.context}


@pytest.mark.parametrize(
    ("payload", "readings", "reasons"),
    [
        ('{"contact": "false"}', {}, {"contact": "expected boolean, got string"}),
        ('{"contact": 0}', {}, {"contact": "expected boolean, got number"}),
        ('{"contact": null}', {}, {"contact": "empty"}),
        ('{"battery": true}', {}, {"battery": "expected number, got boolean"}),
        ('{"battery": [1]}', {}, {"battery": "expected number, got array"}),
        ('{"contact": true, "battery": 50.5}', {"door.open": 0, "device.battery": 50.5}, {}),
    ],
)
def test_wrong_types_are_not_readings(payload: str, readings: dict[str, float], reasons: dict[str, str]) -> None:
    result = mapped(DOOR, payload)
    assert result["readings"] == readings
    assert {e["field"]: e["reason"] for e in result["not_readings"]} == reasons  # type: ignore[attr-defined]


def test_unknown_fields_are_listed_and_kept_fields_copied() -> None:
    decoded = map_payload(
        DOOR, '{"contact": false, "linkquality": 99, "mystery": 1}', device_id="t", received_at=RECEIVED
    )
    assert decoded.context["unknown_fields"] == ["mystery"]
    assert decoded.observations[0].context["linkquality"] == 99


def test_unmapped_action_is_not_a_reading() -> None:
    result = mapped(BUTTON, '{"action": "shake"}')
    assert result["readings"] == {}
    assert result["not_readings"] == [{"field": "action", "reason": "unmapped_value", "metric": "alarm.button"}]


@pytest.mark.parametrize("payload", ["[]", "1", '"text"', "null", "{", "", "\xff"])
def test_not_an_object_is_a_decode_error(payload: str) -> None:
    with pytest.raises(DecodeError, match="mqtt json"):
        mapped(DOOR, payload)


@PROPERTY
@given(st.dictionaries(FIELDS, JSON_VALUES, max_size=6))
def test_any_object_maps_without_crashing(document: dict[str, object]) -> None:
    for mapping in (DOOR, BUTTON):
        decoded = map_payload(mapping, json.dumps(document), device_id="t", received_at=RECEIVED)
        for observation in decoded.observations:
            assert observation.metric in {"door.open", "device.battery", "alarm.button"}
            assert isinstance(observation.value, int | float)
        json.dumps(decoded.context)


@PROPERTY
@given(st.binary(max_size=40) | st.text(max_size=40))
def test_any_bytes_are_a_mapping_or_a_decode_error(payload: bytes | str) -> None:
    with contextlib.suppress(DecodeError):
        map_payload(DOOR, payload, device_id="t", received_at=RECEIVED)
