"""Decoders for the Bluetooth SIG health characteristics, dispatched by characteristic UUID."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from device_profiles.numbers import JSONValue
from device_profiles.sig._collect import Collector, Decoded, DecodeEnv
from device_profiles.sig.battery import BATTERY_LEVEL, decode_battery_level
from device_profiles.sig.blood_pressure import decode_blood_pressure, decode_cuff_pressure
from device_profiles.sig.cgm import decode_cgm
from device_profiles.sig.glucose import decode_glucose, decode_glucose_context
from device_profiles.sig.heart_rate import decode_heart_rate
from device_profiles.sig.pulse_oximetry import decode_continuous, decode_spot_check
from device_profiles.sig.temperature import decode_temperature
from device_profiles.sig.weight import decode_body_composition, decode_weight

DEFAULT_ZONE: Final = "Europe/Oslo"


@dataclass(frozen=True, slots=True)
class Characteristic:
    """A supported characteristic: its 16-bit UUID, its name and its decoder."""

    uuid: int
    name: str
    decoder: Callable[[bytes, Collector], None]


CHARACTERISTICS: Final[Mapping[int, Characteristic]] = {
    c.uuid: c
    for c in (
        Characteristic(0x2A35, "Blood Pressure Measurement", decode_blood_pressure),
        Characteristic(0x2A36, "Intermediate Cuff Pressure", decode_cuff_pressure),
        Characteristic(0x2A1C, "Temperature Measurement", decode_temperature),
        Characteristic(0x2A9D, "Weight Measurement", decode_weight),
        Characteristic(0x2A9C, "Body Composition Measurement", decode_body_composition),
        Characteristic(0x2A37, "Heart Rate Measurement", decode_heart_rate),
        Characteristic(0x2A18, "Glucose Measurement", decode_glucose),
        Characteristic(0x2A34, "Glucose Measurement Context", decode_glucose_context),
        Characteristic(0x2A5E, "PLX Spot-Check Measurement", decode_spot_check),
        Characteristic(0x2A5F, "PLX Continuous Measurement", decode_continuous),
        Characteristic(0x2AA7, "CGM Measurement", decode_cgm),
        Characteristic(BATTERY_LEVEL, "Battery Level", decode_battery_level),
    )
}


def decode_characteristic(
    uuid: int,
    data: bytes,
    *,
    device_id: str,
    received_at: datetime,
    zone: ZoneInfo | None = None,
) -> Decoded:
    """Decode one notification or indication of characteristic `uuid`.

    Device time stamps are read as wall-clock time in `zone` (default Europe/Oslo). Raises `DecodeError`
    for a structurally broken payload and `KeyError` for a UUID not in `CHARACTERISTICS`.
    """
    characteristic = CHARACTERISTICS[uuid]
    env = DecodeEnv(device_id=device_id, received_at=received_at, zone=zone or ZoneInfo(DEFAULT_ZONE))
    collector = Collector(env)
    characteristic.decoder(bytes(data), collector)
    return collector.result()


__all__ = [
    "CHARACTERISTICS",
    "DEFAULT_ZONE",
    "Characteristic",
    "DecodeEnv",
    "Decoded",
    "JSONValue",
    "decode_characteristic",
]
