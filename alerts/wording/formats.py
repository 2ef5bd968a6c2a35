"""Values as a person reads them: numbers, units, times and lists in the reader's language, by Babel.

Norwegian readers get a decimal comma (37,1), a 24-hour clock and Europe/Oslo time; English readers the same
clock and zone with a decimal point. Nothing here is written by hand that Babel's locale data knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.lists import format_list
from babel.numbers import format_decimal

OSLO: Final = ZoneInfo("Europe/Oslo")
# The reader's language -> the Babel locale its numbers and dates follow.
# Parsed once: Babel parses a locale given by name again on every call, a tenth of a long page's render time.
LOCALES: Final = {"nb": Locale.parse("nb_NO"), "en": Locale.parse("en_GB")}
# UCUM units of the metric catalogue as people write them; a unit not listed is shown as it is.
UNIT_SYMBOLS: Final = {
    "mm[Hg]": "mmHg",
    "Cel": "°C",
    "{score}": "",
    "1": "",
    "dB[mW]": "dBm",
    "kg/m2": "kg/m²",
    "/min": "/min",
}


class Messages(Protocol):
    """A gettext catalogue (`gettext.GNUTranslations` and `NullTranslations` are one)."""

    def gettext(self, message: str, /) -> str:
        """The translation of `message`."""
        ...

    def ngettext(self, singular: str, plural: str, n: int, /) -> str:
        """The translation for the count `n`."""
        ...


@dataclass(frozen=True)
class Reader:
    """Who reads a text: the language (`nb` or `en`) and its gettext catalogue (common/i18n.py)."""

    language: str
    messages: Messages

    @property
    def locale(self) -> Locale:
        """The Babel locale of the language (bokmål for anything unknown)."""
        return LOCALES.get(self.language, LOCALES["nb"])

    def _(self, message: str) -> str:
        """The translation of a source string."""
        return self.messages.gettext(message)

    def n_(self, singular: str, plural: str, count: int) -> str:
        """The translation of a source string whose form depends on `count`."""
        return self.messages.ngettext(singular, plural, count)

    def number(self, value: float, decimals: int = 1) -> str:
        """`value` rounded to at most `decimals` places, written the reader's way (37,1 / 37.1)."""
        pattern = "#,##0" + ("." + "#" * decimals if decimals > 0 else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    @staticmethod
    def unit(unit: str) -> str:
        """A catalogue (UCUM) unit as people write it ("mm[Hg]" is "mmHg"; counts and scores have none)."""
        return UNIT_SYMBOLS.get(unit, unit)

    def quantity(self, value: float, unit: str, decimals: int = 1) -> str:
        """A number with its unit as people write it ("37,1 °C", "135 /min")."""
        return f"{self.number(value, decimals)} {self.unit(unit)}".strip()

    def moment(self, when: datetime | float) -> str:
        """A time as date and 24-hour clock in Europe/Oslo ("03.12.2026, 15:05"); Unix seconds or aware."""
        at = datetime.fromtimestamp(when, UTC) if isinstance(when, (int, float)) else when
        return format_datetime(at, "short", tzinfo=OSLO, locale=self.locale)

    def listing(self, items: Sequence[str]) -> str:
        """Items joined the reader's way ("a, b og c" / "a, b and c")."""
        return format_list(list(items), locale=self.locale) if items else ""
