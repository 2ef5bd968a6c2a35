"""Heart Rate Measurement (0x2A37)."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from device_profiles.numbers import JSONValue
from device_profiles.sig._collect import Collector
from device_profiles.sig._layout import U8, U16, Field, Layout, read

_RR_PRESENT: Final = 0x10
HEART_RATE = Layout(
    "Heart Rate Measurement (0x2A37)",
    U8,
    0x1F,
    (
        Field("heart_rate", U8, when=0x01, when_clear=True),
        Field("heart_rate", U16, when=0x01),
        Field("energy_expended", U16, when=0x08),
        # The RR flag promises at least one interval; further ones fill the rest of the payload.
        Field("rr_interval", U16, when=_RR_PRESENT),
    ),
)
_CONTACT: Final = {0: "not_supported", 1: "not_supported", 2: "not_detected", 3: "detected"}
_CONTACT_SHIFT: Final = 1
_RR_UNITS_PER_SECOND: Final = 1024


def decode_heart_rate(data: bytes, out: Collector) -> None:
    """0x2A37: heart rate (8 or 16 bit), sensor contact, energy expended, RR intervals."""
    packet = read(HEART_RATE, data)
    consumed = packet.end
    rr_raw: list[int] = []
    if packet.flags & _RR_PRESENT:
        rr_raw.append(packet.uint("rr_interval") or 0)
        while consumed + 2 <= len(data):
            rr_raw.append(int.from_bytes(data[consumed : consumed + 2], "little"))
            consumed += 2
    out.layout_notes(packet, data, consumed=consumed)
    out.context["sensor_contact"] = _CONTACT[(packet.flags >> _CONTACT_SHIFT) & 0x03]
    energy = packet.uint("energy_expended")
    if energy is not None:
        out.context["energy_expended"] = {"value": energy, "unit": "kJ"}
    if rr_raw:
        # 1/1024 s is a power of two, so each interval is exact as a float.
        seconds: list[JSONValue] = [raw / _RR_UNITS_PER_SECOND for raw in rr_raw]
        out.context["rr_intervals_s"] = seconds
    out.fixed("heart_rate", packet.uint("heart_rate"), Decimal(1), "/min", source="heart_rate", measured_at=None)
