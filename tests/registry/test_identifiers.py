"""Validators: national identity numbers, organisation numbers and municipality numbers.

Test numbers: 15108695088 is python-stdnum's documented example; 43022014103 is the D-number example of
the nonin library (slahn/nonin README); the synthetic persons are NAV's Dolly (+40 month) and Skatteetaten's
Tenor (+80 month) numbers from NAV's own fødselsnummer tests (navikt, `skal tillate helsyntetiske nummer fra
dolly`), each with its birth date.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.registry import municipalities
from cloud.registry.identity import IdentifierError, national_id, organisation_number

SYNTHETIC = [
    ("15507600333", date(1976, 10, 15)),  # NAV, +40
    ("55507608360", date(1976, 10, 15)),  # NAV D-number, +40
    ("29422059278", date(2020, 2, 29)),
    ("69422056629", date(2020, 2, 29)),
    ("17912099997", date(2020, 11, 17)),  # Tenor, +80 (python-stdnum refuses these)
    ("57912075186", date(2020, 11, 17)),
    ("29822099635", date(2020, 2, 29)),
    ("69822075096", date(2020, 2, 29)),
]


def test_fodselsnummer_and_d_number() -> None:
    fnr = national_id("151086 95088")
    assert (fnr.number, fnr.kind, fnr.birth_date) == ("15108695088", "fnr", date(1986, 10, 15))
    dnr = national_id("43022014103")
    assert (dnr.kind, dnr.birth_date) == ("dnr", date(1920, 2, 3))
    assert fnr.masked == "*********88" and "15108695088" not in repr(fnr)


@pytest.mark.parametrize(("number", "born"), SYNTHETIC)
def test_synthetic_test_numbers_only_where_allowed(number: str, born: date) -> None:
    with pytest.raises(IdentifierError, match="synthetic"):
        national_id(number)
    checked = national_id(number, allow_synthetic=True)
    assert (checked.kind, checked.birth_date) == ("synthetic", born)


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("15108695077", "check digits"),  # stdnum's example of a wrong checksum
        ("1510869508", "11 digits"),
        ("1510869508x", "11 digits"),
        ("81010112345", "check digits"),
    ],
)
def test_invalid_national_ids(number: str, problem: str) -> None:
    with pytest.raises(IdentifierError, match=problem):
        national_id(number)


def test_fh_number_is_refused() -> None:
    # First digit 8: an FH-number (valid check digits, computed from the published weights), not an identity.
    with pytest.raises(IdentifierError, match="FH-number"):
        national_id("81010110181")


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_any_eleven_digits_is_accepted_or_refused_cleanly(number: str) -> None:
    try:
        checked = national_id(number, allow_synthetic=True)
    except IdentifierError as exc:
        assert number not in str(exc)  # the message never repeats the number
    else:
        assert checked.number == number and checked.kind in {"fnr", "dnr", "synthetic"}


def test_organisation_numbers() -> None:
    assert organisation_number("974 760 673") == "974760673"  # Brønnøysundregistrene
    for bad in ("974760674", "12345678", "abcdefghi"):
        with pytest.raises(IdentifierError):
            organisation_number(bad)


def test_official_municipality_list_has_357_numbers_from_2024() -> None:
    official = municipalities.official()
    assert len(official) == 357
    assert date(2024, 1, 1) == municipalities.VALID_FROM
    assert official["0301"] == "Oslo" and official["4601"] == "Bergen" and official["1580"] == "Haram"
    for gone in ("1507", "3003", "5444"):  # Ålesund before the split, Sarpsborg and Sør-Varanger before 2024
        with pytest.raises(IdentifierError):
            municipalities.check(gone)
