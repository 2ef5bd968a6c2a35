"""Small pieces several characteristics share: reading a packet, the time stamp, the user id, and enumerated
and status fields put into the context by name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from device_profiles.numbers import JSONValue
from device_profiles.sig._collect import Collector
from device_profiles.sig._datetime import localise, parse_date_time
from device_profiles.sig._layout import Layout, Packet, bit_names, code_name, read

_UNKNOWN_USER: Final = 0xFF


def read_noted(layout: Layout, data: bytes, out: Collector) -> Packet:
    """Split `data` by `layout` and note its reserved flag bits and trailing octets in the context."""
    packet = read(layout, data)
    out.layout_notes(packet, data)
    return packet


def time_stamp(packet: Packet, out: Collector, field: str = "time_stamp") -> datetime | None:
    """The measurement time from a Date Time field (None when absent or unknown); described in context."""
    octets = packet.raw.get(field)
    if octets is None:
        return None
    measured_at, out.context[field] = localise(parse_date_time(octets), out.env.zone)
    return measured_at


def user_id(packet: Packet, out: Collector) -> None:
    """Note the user index; 0xFF is the specification's "unknown user"."""
    user = packet.uint("user_id")
    if user is not None:
        out.context["user_id"] = "unknown" if user == _UNKNOWN_USER else user


def code_context(packet: Packet, out: Collector, field: str, names: Mapping[int, str]) -> None:
    """Note an enumerated field by the name of its value (see `code_name`); nothing when it is absent."""
    code = packet.uint(field)
    if code is not None:
        out.context[field] = code_name(code, names)


def flags_context(packet: Packet, out: Collector, field: str, names: Mapping[int, str]) -> None:
    """Note a status field as the names of its set bits (see `bit_names`); nothing when it is absent."""
    value = packet.uint(field)
    if value is not None:
        flags: list[JSONValue] = list(bit_names(value, names))
        out.context[field] = flags
