"""Numbers, measurements, dates and times as a person reads them, through Babel: `37,1 °C` in bokmål and
`37.1 °C` in English, 24-hour clock, Europe/Oslo. The templates use these as filters (`filters(language)`);
nothing formats a number or a time by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from babel.dates import format_date, format_time, format_timedelta
from babel.numbers import format_decimal

from alerts.wording.formats import LOCALES, UNIT_SYMBOLS
from common.timefmt import OSLO
from device_profiles.metrics import load_catalogue


def number(value: float | int | None, language: str, digits: int | None = None) -> str:
    """A number in the language's notation; `digits` fixes the decimals, else up to three are shown."""
    if value is None:
        return "–"
    pattern = None if digits is None else "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=LOCALES[language])


def unit_symbol(unit: str) -> str:
    """The way a person writes a catalogue unit (`Cel` is `°C`)."""
    return UNIT_SYMBOLS.get(unit, unit)


def measure(value: float | int | None, unit: str, language: str) -> str:
    """A value with its unit: `37,1 °C`, `92 %`."""
    symbol = unit_symbol(unit)
    return f"{number(value, language)}\N{NO-BREAK SPACE}{symbol}" if symbol else number(value, language)


def metric_name(metric: str, language: str) -> str:
    """The catalogue's display name of a metric in the language (its key when it is not in the catalogue)."""
    catalogue = load_catalogue()
    if metric not in catalogue:
        return metric
    names = catalogue[metric].names
    return names.nb if language == "nb" else names.en


def _oslo(moment: datetime) -> datetime:
    return moment.astimezone(OSLO)


def clock(moment: datetime | None, language: str) -> str:
    """The Oslo time of day, 24-hour: `14:05`."""
    return "" if moment is None else format_time(_oslo(moment), "HH:mm", locale=LOCALES[language])


def when(moment: datetime | None, language: str) -> str:
    """Date and Oslo time of day: `3. des. 2026 14:05`."""
    if moment is None:
        return "–"
    local = _oslo(moment)
    return f"{format_date(local, 'medium', locale=LOCALES[language])} {clock(local, language)}"


def ago(moment: datetime | None, language: str, now: datetime | None = None) -> str:
    """How long ago (or how far ahead) in words: `for 5 minutter siden`, `in 2 hours`."""
    if moment is None:
        return ""
    delta = moment - (now or datetime.now(UTC))
    return format_timedelta(delta, add_direction=True, threshold=1, locale=LOCALES[language])


def day(moment: date | None, language: str) -> str:
    """A calendar date: `3. des. 2026`."""
    return "–" if moment is None else format_date(moment, "medium", locale=LOCALES[language])


def iso(moment: datetime | None) -> str:
    """The machine-readable instant for a `<time datetime>` attribute."""
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def local_input(moment: datetime | None) -> str:
    """The Oslo wall time as a `datetime-local` input's value (`2026-12-03T14:05`)."""
    return "" if moment is None else _oslo(moment).strftime("%Y-%m-%dT%H:%M")


def filters(language: str) -> dict[str, Callable[..., Any]]:
    """The template filters, bound to the page's language."""
    return {
        "number": partial(number, language=language),
        "measure": lambda value, unit: measure(value, unit, language),
        "metric_name": partial(metric_name, language=language),
        "clock": partial(clock, language=language),
        "when": partial(when, language=language),
        "ago": partial(ago, language=language),
        "day": partial(day, language=language),
        "iso": iso,
        "local_input": local_input,
    }
