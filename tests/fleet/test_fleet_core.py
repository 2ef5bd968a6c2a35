"""The data behind the fleet flags: reason classes and heartbeat intervals."""

from __future__ import annotations

from cloud.fleet.status import GARBAGE_REASONS, REASON_CLASS
from cloud.gateways.heartbeat import ALARM_PROFILES, expected_interval_s
from cloud.ingest.validate import REASONS


def test_every_quarantine_reason_is_classified() -> None:
    assert set(REASON_CLASS) == set(REASONS)
    assert "malformed" in GARBAGE_REASONS and "unassigned" not in GARBAGE_REASONS


def test_the_heartbeat_interval_follows_the_devices() -> None:
    assert "shelly-blu-button1" in ALARM_PROFILES and "and-uc-352ble" not in ALARM_PROFILES
    assert expected_interval_s(None, ["and-uc-352ble", "shelly-blu-button1"]) == 60
    assert expected_interval_s(None, ["and-uc-352ble"]) == 5 * 60
    assert expected_interval_s(300, ["shelly-blu-button1"]) == 300
