"""Untrusted text is checked for digits with `common.digits.plain_digits`, never `str.isdigit()`: that one also
takes "³" and "٣", which `int()` refuses (a 500 on `/fhir/Observation/³`, found by schemathesis) or reads as
another number."""

from __future__ import annotations

import re
from pathlib import Path

from common.digits import plain_digits

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("alerts", "cloud", "common", "device_profiles", "edge", "tryggheim")


def test_plain_digits_are_ascii_only() -> None:
    assert plain_digits("0123456789")
    for text in ("", "³", "٣", "١٢", "12³", " 1", "-1", "1.0", "²5"):
        assert not plain_digits(text), text


def test_no_module_checks_digits_with_isdigit() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "common" / "digits.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\.isdigit\(\)", line)
    ]
    assert not found, f"use common.digits.plain_digits: {found}"
