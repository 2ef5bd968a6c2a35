"""People's free text in request bodies (comments, reasons, notes): stripped as it is stored, bounds counted after.

The database checks these columns on `btrim` (which removes spaces only) and the service strips with Python's
`str.strip`, which also removes tabs, line breaks and the other separators (U+001C-U+001F among them). A bound
checked before stripping let through text the database then refused, a 500 instead of a 422: a comment of the
single character U+001D, found by the schemathesis run of the triage API; a reason of three spaces. Each type
strips first and checks the bounds on what is left, which is exactly what is stored, so whatever it accepts the
database accepts too (tests/foundation/test_free_text.py checks that against PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, Field


def _at_least(min_chars: int) -> Callable[[str], str]:
    def stripped(value: str) -> str:
        kept = value.strip()
        if len(kept) < min_chars:
            raise ValueError(f"write at least {min_chars} character{'s' if min_chars > 1 else ''} besides spaces")
        return kept

    return stripped


# The raw bounds stay (they document the field and cap the body); the stripped text must still hold the lower one.
Comment = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_at_least(1))]
Reason = Annotated[str, Field(min_length=3, max_length=500), AfterValidator(_at_least(3))]
Note = Annotated[str, Field(min_length=3, max_length=2000), AfterValidator(_at_least(3))]
