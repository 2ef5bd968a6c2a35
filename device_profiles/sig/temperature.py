"""Health Thermometer: Temperature Measurement (0x2A1C)."""

from __future__ import annotations

from typing import Final

from device_profiles.sig._collect import Collector
from device_profiles.sig._common import code_context, read_noted, time_stamp
from device_profiles.sig._layout import DATE_TIME, FLOAT, U8, Field, Layout

TEMPERATURE = Layout(
    "Temperature Measurement (0x2A1C)",
    U8,
    0x07,
    (
        Field("temperature", FLOAT),
        Field("time_stamp", DATE_TIME, when=0x02),
        Field("temperature_type", U8, when=0x04),
    ),
)
_UNITS: Final = {0: "Cel", 1: "[degF]"}
_SITES: Final = {
    1: "armpit",
    2: "body",
    3: "ear",
    4: "finger",
    5: "gastrointestinal_tract",
    6: "mouth",
    7: "rectum",
    8: "toe",
    9: "tympanum",
}


def decode_temperature(data: bytes, out: Collector) -> None:
    """0x2A1C: body temperature (°C or °F), optional time stamp and measurement site."""
    packet = read_noted(TEMPERATURE, data, out)
    unit = _UNITS[packet.flags & 0x01]
    out.context["unit_sent"] = unit
    measured_at = time_stamp(packet, out)
    code_context(packet, out, "temperature_type", _SITES)
    out.medfloat(
        "body.temperature",
        packet.medfloat("temperature"),
        unit,
        source="temperature",
        measured_at=measured_at,
    )
