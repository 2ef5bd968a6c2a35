"""Weight Scale and Body Composition: Weight Measurement (0x2A9D), Body Composition Measurement (0x2A9C).

Resolutions are the fixed field units of the specification (0.005 kg / 0.01 lb for masses, 0.001 m / 0.1 in
for height); the scale's feature characteristic describes its real precision, not a rescaling factor.
A body composition measurement split over several packets is decoded one packet at a time here; joining
the packets needs state and is the edge agent's job.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, NamedTuple

from device_profiles.numbers import JSONValue, plain
from device_profiles.sig._collect import Collector
from device_profiles.sig._common import read_noted, time_stamp, user_id
from device_profiles.sig._layout import DATE_TIME, U8, U16, Field, Layout, read

_UNSUCCESSFUL: Final = 0xFFFF


class _Units(NamedTuple):
    mass: tuple[Decimal, str]
    length: tuple[Decimal, str]


# Flag bit 0: 0 = SI, 1 = imperial.
_UNITS: Final = {
    0: _Units(mass=(Decimal("0.005"), "kg"), length=(Decimal("0.001"), "m")),
    1: _Units(mass=(Decimal("0.01"), "[lb_av]"), length=(Decimal("0.1"), "[in_i]")),
}

WEIGHT = Layout(
    "Weight Measurement (0x2A9D)",
    U8,
    0x0F,
    (
        Field("weight", U16),
        Field("time_stamp", DATE_TIME, when=0x02),
        Field("user_id", U8, when=0x04),
        Field("bmi", U16, when=0x08),
        Field("height", U16, when=0x08),
    ),
)


def decode_weight(data: bytes, out: Collector) -> None:
    """0x2A9D: body weight, optional time stamp, user, and BMI with height."""
    packet = read_noted(WEIGHT, data, out)
    units = _UNITS[packet.flags & 0x01]
    measured_at = time_stamp(packet, out)
    user_id(packet, out)
    resolution, unit = units.mass
    out.fixed(
        "body.weight",
        packet.uint("weight"),
        resolution,
        unit,
        source="weight",
        measured_at=measured_at,
        unsuccessful=_UNSUCCESSFUL,
    )
    out.fixed("body.bmi", packet.uint("bmi"), Decimal("0.1"), "kg/m2", source="bmi", measured_at=measured_at)
    resolution, unit = units.length
    out.fixed("body.height", packet.uint("height"), resolution, unit, source="height", measured_at=measured_at)


_COMPOSITION_FIELDS: Final = (
    Field("body_fat", U16),
    Field("time_stamp", DATE_TIME, when=0x0002),
    Field("user_id", U8, when=0x0004),
    Field("basal_metabolism", U16, when=0x0008),
    Field("muscle_percentage", U16, when=0x0010),
    Field("muscle_mass", U16, when=0x0020),
    Field("fat_free_mass", U16, when=0x0040),
    Field("soft_lean_mass", U16, when=0x0080),
    Field("body_water_mass", U16, when=0x0100),
    Field("impedance", U16, when=0x0200),
    Field("weight", U16, when=0x0400),
    Field("height", U16, when=0x0800),
)
BODY_COMPOSITION = Layout("Body Composition Measurement (0x2A9C)", U16, 0x1FFF, _COMPOSITION_FIELDS)
# With body fat 0xFFFF ("measurement unsuccessful") nothing else follows, whatever the flags say.
_UNSUCCESSFUL_COMPOSITION = Layout(BODY_COMPOSITION.source, U16, 0x1FFF, _COMPOSITION_FIELDS[:1])
_MULTIPLE_PACKET: Final = 0x1000

# Fields with no catalogue metric: kept in context with their unit. (field, resolution, "mass" or a UCUM unit)
_CONTEXT_ONLY: Final = (
    ("basal_metabolism", Decimal(1), "kJ"),
    ("muscle_percentage", Decimal("0.1"), "%"),
    ("muscle_mass", None, "mass"),
    ("fat_free_mass", None, "mass"),
    ("soft_lean_mass", None, "mass"),
    ("body_water_mass", None, "mass"),
)


def decode_body_composition(data: bytes, out: Collector) -> None:
    """0x2A9C: body fat and the optional composition fields of one packet."""
    head = read(_UNSUCCESSFUL_COMPOSITION, data)
    if head.uint("body_fat") == _UNSUCCESSFUL:
        out.layout_notes(head, data)
        out.not_reading("body_fat", "measurement_unsuccessful", "body.fat")
        return
    packet = read_noted(BODY_COMPOSITION, data, out)
    units = _UNITS[packet.flags & 0x01]
    if packet.flags & _MULTIPLE_PACKET:
        out.context["multiple_packet"] = True
    measured_at = time_stamp(packet, out)
    user_id(packet, out)
    out.fixed("body.fat", packet.uint("body_fat"), Decimal("0.1"), "%", source="body_fat", measured_at=measured_at)
    for name, resolution, unit in _CONTEXT_ONLY:
        raw = packet.uint(name)
        if raw is not None:
            step, shown = (resolution, unit) if resolution is not None else units.mass
            value: JSONValue = plain(raw * step)
            out.context[name] = {"value": value, "unit": shown}
    out.fixed(
        "body.impedance",
        packet.uint("impedance"),
        Decimal("0.1"),
        "Ohm",
        source="impedance",
        measured_at=measured_at,
    )
    step, unit = units.mass
    out.fixed("body.weight", packet.uint("weight"), step, unit, source="weight", measured_at=measured_at)
    step, unit = units.length
    out.fixed("body.height", packet.uint("height"), step, unit, source="height", measured_at=measured_at)
