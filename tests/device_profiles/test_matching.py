"""Advertisement / topic to catalogue entry, and the collector's control values (Current Time, RACP)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_profiles import DecodeError
from device_profiles.device_catalogue import load_devices
from device_profiles.matching import (
    Advert,
    address_of,
    match_advert,
    match_zigbee_model,
    topic_for,
    uuid16,
)
from device_profiles.sig import control

CATALOGUE = load_devices()


def _advert(name: str | None = None, uuids: tuple[str, ...] = (), data: dict[str, bytes] | None = None) -> Advert:
    return Advert.from_bleak_fields(name, uuids, data or {}, ())


def test_uuid16_reads_every_spelling_and_refuses_vendor_uuids() -> None:
    assert uuid16("0x1810") == uuid16("1810") == uuid16("00001810-0000-1000-8000-00805f9b34fb") == 0x1810
    assert uuid16("6e400001-b5a3-f393-e0a9-e50e24dcca9e") is None  # Nordic UART: not a SIG UUID
    assert uuid16("xyz") is None


@pytest.mark.parametrize(
    ("advert", "expected"),
    [
        # A generic SIG monitor: several products share the rule, so the family's abstract entry is the answer.
        (_advert("BP7000", ("00001810-0000-1000-8000-00805f9b34fb",)), "sig-blood-pressure"),
        (_advert("meter", ("1808",)), "sig-glucose-meter"),
        # The name narrows BTHome down to a product; without it, any BTHome sensor.
        (_advert("SBBT-002C", data={"0000fcd2-0000-1000-8000-00805f9b34fb": b"\x40"}), "shelly-blu-button1"),
        (_advert("SBMO-003Z", data={"fcd2": b"\x40"}), "shelly-blu-motion"),
        (_advert("unknown", data={"fcd2": b"\x40"}), "bthome-v2"),
        (_advert("MIBFS", data={"181b": bytes(13)}), "xiaomi-mi-body-composition-scale-2"),
        (_advert("MISCA", data={"181d": bytes(10)}), "xiaomi-mi-scale"),
    ],
)
def test_adverts_match_the_most_specific_entry(advert: Advert, expected: str) -> None:
    entry = match_advert(advert, CATALOGUE)
    assert entry is not None and entry.id == expected


def test_unknown_and_half_matching_adverts_match_nothing() -> None:
    assert match_advert(_advert("Heart strap", ("180d",)), CATALOGUE) is None
    # The Xiaomi rule needs its service data AND the name: a SIG weight scale UUID alone is not a Mi scale.
    assert match_advert(_advert("Other", data={"181d": bytes(10)}), CATALOGUE) is None
    assert match_advert(_advert(None), CATALOGUE) is None


def test_topics_and_zigbee_models() -> None:
    door = CATALOGUE["aqara-door-window-mccgq11lm"]
    assert topic_for(door, "hall-door") == "zigbee2mqtt/hall-door"
    assert address_of(door, "zigbee2mqtt/hall-door") == "hall-door"
    assert address_of(door, "zigbee2mqtt/hall-door/set") is None
    for bad in ("", "a/b", "a+", "#"):
        with pytest.raises(ValueError, match="MQTT topic level"):
            topic_for(door, bad)
    with pytest.raises(ValueError, match="no topic pattern"):
        topic_for(CATALOGUE["shelly-blu-button1"], "x")
    found = match_zigbee_model("lumi.sensor_magnet.aq2", CATALOGUE)
    assert found is not None and found.id == "aqara-door-window-mccgq11lm"
    assert match_zigbee_model("lumi.unknown", CATALOGUE) is None


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_ ", min_size=1, max_size=40))
def test_topic_for_and_address_of_round_trip(name: str) -> None:
    entry = CATALOGUE["aqara-motion-rtcgq11lm"]
    assert address_of(entry, topic_for(entry, name)) == name


def test_current_time_is_the_oslo_wall_clock_with_weekday_and_fractions() -> None:
    # 2026-03-29 01:30:00.5 UTC is 03:30:00.5 in Oslo (summer time began at 01:00 UTC); a Sunday (7).
    value = control.current_time(datetime(2026, 3, 29, 1, 30, 0, 500_000, tzinfo=UTC), ZoneInfo("Europe/Oslo"))
    assert value == bytes([0xEA, 0x07, 3, 29, 3, 30, 0, 7, 128, 0x02])
    with pytest.raises(ValueError, match="aware"):
        control.current_time(datetime(2026, 3, 29), ZoneInfo("Europe/Oslo"))  # noqa: DTZ001 - the error case


def test_racp_requests_and_responses() -> None:
    assert control.records_after(None) == bytes([0x01, 0x01])  # all stored records
    assert control.records_after(2) == bytes([0x01, 0x03, 0x01, 0x03, 0x00])  # sequence >= 3
    assert control.records_after(0x1233) == bytes([0x01, 0x03, 0x01, 0x34, 0x12])
    with pytest.raises(ValueError, match="nothing to ask for"):
        control.records_after(0xFFFF)
    assert control.parse_request(control.records_after(41)) == control.RacpRequest(0x01, 0x03, 42)
    assert control.parse_request(bytes([0x01, 0x01])) == control.RacpRequest(0x01, 0x01, None)
    with pytest.raises(DecodeError, match="bad operand"):
        control.parse_request(bytes([0x01, 0x03, 0x02, 0x00, 0x00]))  # filter type 2 (user facing time)
    assert control.parse_response(bytes([0x06, 0x00, 0x01, 0x01])) == (0x01, "success")
    assert control.parse_response(bytes([0x06, 0x00, 0x01, 0x06])) == (0x01, "no_records_found")
    assert control.parse_response(bytes([0x06, 0x00, 0x01, 0x7F])) == (0x01, "reserved_0x7F")
    assert control.parse_response(bytes([0x05, 0x00, 0x03, 0x00])) is None  # a count response, not an end


@given(st.integers(min_value=0, max_value=0xFFFE))
def test_racp_request_round_trips(last: int) -> None:
    assert control.parse_request(control.records_after(last)).at_least == last + 1
