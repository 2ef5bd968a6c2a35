"""The SIG Date Time field (7 octets, no time zone), read as wall-clock time in a configured zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from device_profiles.numbers import JSONValue

# Octets: year uint16 (0 = unknown, else 1582..9999), month, day (0 = unknown), hours, minutes, seconds.
_YEAR_FIRST = 1582


@dataclass(frozen=True, slots=True)
class WallTime:
    """A device wall-clock time: `wall` is None when unknown or impossible, `status` says why."""

    wall: datetime | None
    status: str  # "ok", "unknown" or "invalid"
    shown: str  # the octets as a readable date, for the context

    def shifted(self, minutes: int) -> WallTime:
        """The same wall clock moved by a signed number of minutes (Glucose time offset)."""
        if self.wall is None:
            return self
        try:
            return WallTime(self.wall + timedelta(minutes=minutes), self.status, self.shown)
        except OverflowError:
            return WallTime(None, "invalid", self.shown)


def parse_date_time(octets: bytes) -> WallTime:
    """Read the 7 octets; year, month or day 0 means unknown, anything outside the calendar is invalid."""
    year = int.from_bytes(octets[0:2], "little")
    month, day, hour, minute, second = octets[2:7]
    shown = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if 0 in (year, month, day):
        return WallTime(None, "unknown", shown)
    if year < _YEAR_FIRST:
        return WallTime(None, "invalid", shown)
    try:
        return WallTime(datetime(year, month, day, hour, minute, second), "ok", shown)  # noqa: DTZ001
    except ValueError:
        return WallTime(None, "invalid", shown)


def localise(wall: WallTime, zone: ZoneInfo) -> tuple[datetime | None, dict[str, JSONValue]]:
    """Attach the zone. Returns the aware time (None when unknown) and the context describing it; a time
    that occurs twice (autumn) takes the first occurrence and one that never occurs (spring) is read with
    the offset before the change; both are flagged."""
    context: dict[str, JSONValue] = {"device_time": wall.shown, "zone": zone.key, "status": wall.status}
    if wall.wall is None:
        return None, context
    first = wall.wall.replace(tzinfo=zone, fold=0)
    second = wall.wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        context["status"] = "dst_ambiguous" if round_trip == wall.wall else "dst_nonexistent"
    return first, context
