"""Battery Service: Battery Level (0x2A19), the charge of a health device's battery.

A GATT health device that offers the Battery Service is read once per session (edge/sources/gatt.py), so its
battery reaches the gateway's heartbeat and the cloud's low-battery rule like an advertising sensor's does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from device_profiles.errors import DecodeError
from device_profiles.sig._collect import Collector

BATTERY_LEVEL: Final = 0x2A19
_SOURCE: Final = "Battery Level (0x2A19)"


def decode_battery_level(data: bytes, out: Collector) -> None:
    """0x2A19: one octet, the charge in percent (0-100); the Battery Service prohibits 101-255."""
    if len(data) != 1:
        raise DecodeError(_SOURCE, data, 1, "not one octet")
    if data[0] > 100:
        raise DecodeError(_SOURCE, data, 1, f"{data[0]} % is above 100")
    out.fixed("device.battery", data[0], Decimal(1), "%", source="battery_level", measured_at=None)
