"""Keeping decoded numbers honest: exact decimals in, clean JSON numbers (and JSON-ready context) out."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

# Beyond 2**53 a JSON reader may not hold the integer exactly; such magnitudes (FLOAT exponents up to 127)
# are printed in float notation instead of a hundred-digit integer.
_EXACT_INT = 2**53

# What a decode context may hold: it is printed by the CLI and stored by the cloud as JSON.
JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]


def significant(value: Decimal, digits: int) -> Decimal:
    """Round to `digits` significant digits (used after a unit conversion, which adds no precision)."""
    if value.is_zero() or not value.is_finite():
        return value
    magnitude = value.adjusted()
    return value.quantize(Decimal(1).scaleb(magnitude - digits + 1), rounding=ROUND_HALF_EVEN)


def plain(value: Decimal) -> int | float:
    """The number for JSON: an int when the decimal has no fractional digits (114), else the nearest float
    (36.4 prints as 36.4, and 2.0 stays 2.0 so the stated precision survives)."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0 and abs(value) <= _EXACT_INT:
        return int(value)
    return float(value)


def digit_count(raw: int) -> int:
    """Decimal digits of an integer field, i.e. the precision a fixed-point value was sent with."""
    return len(str(abs(raw)))
