"""Times are stored in UTC and shown to people in Europe/Oslo."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")


def to_utc(moment: datetime) -> datetime:
    """Normalise an aware datetime to UTC; a naive one is a programming error, not UTC by guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no zone; pass an aware datetime")
    return moment.astimezone(UTC)


def to_oslo(moment: datetime) -> datetime:
    """The same instant in Norwegian local time, for display."""
    return to_utc(moment).astimezone(OSLO)


def format_oslo(moment: datetime, *, seconds: bool = False) -> str:
    """Display form used in the UI and CLI: `2026-11-23 09:15` (Europe/Oslo, 24-hour clock)."""
    return to_oslo(moment).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
