"""Shared helpers for the device_profiles tests: decoding hex literals, a fixed receive time, and the
hypothesis settings that keep the property tests inside the suite's one-minute budget."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, settings

from device_profiles import Decoded, decode_characteristic

# Applied per test rather than as a global profile, so other packages' tests keep their own settings.
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

RECEIVED = datetime(2025, 1, 15, 9, 0, tzinfo=UTC)


def decode(uuid: int, hex_text: str) -> Decoded:
    """Decode a payload written as hex (spaces allowed, for readability of field boundaries)."""
    return decode_characteristic(uuid, bytes.fromhex(hex_text), device_id="test-device", received_at=RECEIVED)


def values(decoded: Decoded) -> dict[str, float | str]:
    """metric -> value of each observation (each test payload has at most one per metric)."""
    return {o.metric: o.value for o in decoded.observations}


def not_read(decoded: Decoded) -> dict[str, str]:
    """field -> reason of each not-reading."""
    entries = decoded.context["not_readings"]
    assert isinstance(entries, list)
    return {str(e["field"]): str(e["reason"]) for e in entries if isinstance(e, dict)}
