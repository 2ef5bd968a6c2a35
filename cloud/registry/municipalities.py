"""The official list of municipality numbers, shipped as dated data (`data/kommunenummer-2024.csv`)."""

from __future__ import annotations

import csv
from datetime import date
from functools import cache
from importlib.resources import files

from cloud.registry.identity import IdentifierError

DATA_FILE = "kommunenummer-2024.csv"
VALID_FROM = date(2024, 1, 1)
SOURCE = "SSB classification 131 (Standard for kommuneinndeling), version valid from 2024-01-01"


@cache
def official() -> dict[str, str]:
    """kommunenummer -> name, from the shipped list."""
    text = files("cloud.registry").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return {row["kommunenummer"]: row["name"] for row in csv.DictReader(text.splitlines())}


def check(kommunenummer: str) -> str:
    """The official name of a municipality number; raises `IdentifierError` for an unknown number."""
    name = official().get(kommunenummer)
    if name is None:
        raise IdentifierError(
            f"{kommunenummer!r} is not a municipality number in {SOURCE} ({len(official())} municipalities)"
        )
    return name
