"""Small pieces several characteristics share: the time stamp and the user id."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from device_profiles.sig._collect import Collector
from device_profiles.sig._datetime import localise, parse_date_time
from device_profiles.sig._layout import Packet

_UNKNOWN_USER: Final = 0xFF


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
