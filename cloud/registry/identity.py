"""Norwegian identifiers: national identity numbers (fødselsnummer, D-number) and organisation numbers.

python-stdnum checks the length, the two mod-11 check digits and the birth date, and accepts D-numbers
(day + 40) and numbers whose month is raised by 40 (H-numbers, and NAV's synthetic test persons). It does not
know Skatteetaten's synthetic test persons (Tenor), whose month is raised by 80, and it cannot say which
kind a number is. This module adds both: a number whose month is raised is a test or help number, never a
person's permanent identity, and is accepted only where synthetic numbers are allowed (test environments).
FH-numbers (first digit 8 or 9) carry no birth date and are not identity numbers: refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from stdnum.exceptions import ValidationError
from stdnum.no import fodselsnummer, orgnr

from common.digits import plain_digits
from common.timefmt import OSLO

IdKind = Literal["fnr", "dnr", "synthetic"]
_D_NUMBER_DAY = 40
_NAV_SYNTHETIC_MONTH = 40  # also the H-number convention
_TENOR_SYNTHETIC_MONTH = 80


class IdentifierError(ValueError):
    """An identifier that is not valid; the message says what is wrong (never the number itself)."""


@dataclass(frozen=True)
class NationalId:
    """A checked national identity number."""

    number: str = field(repr=False)  # never in logs or tracebacks
    kind: IdKind
    birth_date: date

    @property
    def masked(self) -> str:
        """What lists show: only the last two digits."""
        return mask(self.number)


def mask(number: str) -> str:
    """Hide all but the last two digits of an identity number."""
    return "*" * (len(number) - 2) + number[-2:]


def national_id(raw: str, *, allow_synthetic: bool = False) -> NationalId:
    """Validate a fødselsnummer or D-number (and synthetic test numbers when allowed)."""
    number = fodselsnummer.compact(raw)
    if len(number) != 11 or not plain_digits(number):
        raise IdentifierError("a national identity number has 11 digits")
    if number[-2] != fodselsnummer.calc_check_digit1(number) or number[-1] != fodselsnummer.calc_check_digit2(number):
        raise IdentifierError("the check digits of the national identity number are wrong")
    day, month = int(number[0:2]), int(number[2:4])
    if day >= 80:
        raise IdentifierError("an FH-number is not a national identity number")
    synthetic = month > _NAV_SYNTHETIC_MONTH
    if synthetic and not allow_synthetic:
        raise IdentifierError("synthetic test numbers and H-numbers are not accepted here")
    # stdnum knows the +40 month rule; a Tenor number (+80) is checked as its +40 twin (same date, and the
    # check digits were verified above on the number as given).
    as_checked = number
    if month > _TENOR_SYNTHETIC_MONTH:
        as_checked = number[:2] + f"{month - _TENOR_SYNTHETIC_MONTH + _NAV_SYNTHETIC_MONTH:02d}" + number[4:]
    try:
        born = fodselsnummer.get_birth_date(as_checked)
    except ValidationError:
        raise IdentifierError("the national identity number does not hold a valid birth date") from None
    if born > datetime.now(OSLO).date():
        raise IdentifierError("the birth date in the national identity number is in the future")
    kind: IdKind = "synthetic" if synthetic else ("dnr" if day > _D_NUMBER_DAY else "fnr")
    return NationalId(number, kind, born)


def organisation_number(raw: str) -> str:
    """Validate a Norwegian organisation number (9 digits, mod-11) and return it compact."""
    try:
        return str(orgnr.validate(raw))
    except ValidationError:
        raise IdentifierError("not a valid organisation number (9 digits with a mod-11 check digit)") from None
