"""Digits as people and protocols mean them: 0-9 and nothing else."""

from __future__ import annotations


def plain_digits(text: str) -> bool:
    """True for a non-empty string of the ASCII digits 0-9. `str.isdigit()` also accepts superscripts and the
    digits of other scripts ("³", "٣"), which `int()` refuses or reads as another number: untrusted text is
    checked with this instead."""
    return text.isascii() and text.isdigit()
