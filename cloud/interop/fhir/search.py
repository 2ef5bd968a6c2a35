"""The search parameters of the `/fhir/` read API, parsed strictly (pure: no I/O).

Every resource type has a closed set of parameters (`SUPPORTED`, also what the CapabilityStatement lists). An
unknown parameter, a modifier (`code:text`), a repeated parameter other than `date`, a malformed value or an
unsupported date prefix (`ne`, `sa`, `eb`, `ap`) raises `SearchError`, answered 400 with an OperationOutcome:
nothing is ignored. `_count` defaults to 50 and is capped at 200; a cap is reported, never silent. `_cursor` is
the opaque position of the next page (the sort key of the last result), made only by `cursor()`.

Dates: `YYYY`, `YYYY-MM`, `YYYY-MM-DD` (calendar periods in Europe/Oslo) or a dateTime with its offset; a
prefix applies to the whole period (`ge2026-11-01` from that day's start, `lt2026-12` before December).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

from cloud.interop.fhir import codes
from common.digits import plain_digits
from common.timefmt import OSLO

DEFAULT_COUNT: Final = 50
MAX_COUNT: Final = 200
DATE_PREFIXES: Final = ("eq", "ge", "gt", "le", "lt")
COMMON: Final = ("_count", "_cursor")
SUPPORTED: Final[dict[str, tuple[str, ...]]] = {
    "Patient": ("identifier", "_id"),
    "Observation": ("patient", "code", "date"),
    "Device": ("patient",),
    "QuestionnaireResponse": ("patient",),
    "DetectedIssue": ("patient",),
}
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2}))?)?)?$")


class SearchError(ValueError):
    """A search the API does not serve; the message is the OperationOutcome's diagnostics (no input echoed
    beyond the parameter's name)."""


@dataclass(frozen=True)
class Search:
    """A parsed search."""

    resource: str
    count: int
    capped_from: int | None = None  # the `_count` asked for, when it was capped
    after: tuple[Any, ...] | None = None
    patient: UUID | None = None
    metrics: frozenset[str] | None = None  # None: any code
    since: datetime | None = None
    until: datetime | None = None
    identifier: tuple[str, str] | None = None  # (system or "", value)
    ids: tuple[str, ...] = field(default=())


def parse(resource: str, items: Sequence[tuple[str, str]]) -> Search:
    """Parse the query items of a search of `resource` (a key of `SUPPORTED`)."""
    allowed = (*SUPPORTED[resource], *COMMON)
    seen: dict[str, list[str]] = {}
    for name, value in items:
        if ":" in name:
            raise SearchError(f"modifiers are not supported (parameter {name.split(':')[0]})")
        if name not in allowed:
            raise SearchError(f"unknown or unsupported search parameter for {resource}: {name[:40]}")
        seen.setdefault(name, []).append(value)
    for name, values in seen.items():
        if name != "date" and len(values) > 1:
            raise SearchError(f"parameter {name} is given more than once")
    found: dict[str, Any] = {"resource": resource, **_count(seen.get("_count"))}
    if "_cursor" in seen:
        found["after"] = _after(seen["_cursor"][0])
    if "patient" in seen:
        found["patient"] = _reference(seen["patient"][0])
    if "code" in seen:
        found["metrics"] = _codes(seen["code"][0])
    if "date" in seen:
        found["since"], found["until"] = _dates(seen["date"])
    if "identifier" in seen:
        found["identifier"] = _identifier(seen["identifier"][0])
    if "_id" in seen:
        found["ids"] = tuple(part for part in seen["_id"][0].split(",") if part)
    return Search(**found)


def _count(values: list[str] | None) -> dict[str, Any]:
    if values is None:
        return {"count": DEFAULT_COUNT}
    if not plain_digits(values[0]) or int(values[0]) < 1:
        raise SearchError("_count must be a whole number of at least 1")
    asked = int(values[0])
    return {"count": MAX_COUNT, "capped_from": asked} if asked > MAX_COUNT else {"count": asked}


def _reference(value: str) -> UUID:
    try:
        return UUID(value.removeprefix("Patient/"))
    except ValueError:
        raise SearchError("patient must be a reference Patient/<id> or the id") from None


def _codes(value: str) -> frozenset[str]:
    tokens = [token for token in value.split(",") if token]
    if not tokens:
        raise SearchError("code is empty")
    found: set[str] = set()
    for token in tokens:
        found |= codes.metrics_for_code(token)
    return frozenset(found)


def _identifier(value: str) -> tuple[str, str]:
    system, bar, number = value.rpartition("|")
    if not number or (bar and system not in {codes.FNR_OID, codes.DNR_OID, codes.PATIENT_ID, ""}):
        raise SearchError("identifier must be system|value with the FNR, D-number or Tryggheim patient system")
    return system, number


def period(value: str) -> tuple[datetime, datetime]:
    """The instant or calendar period a date value names, as [start, end)."""
    match = _DATE.match(value)
    if match is None:
        raise SearchError("date must be YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with an offset")
    year, month, day, clock = match.groups()
    try:
        if clock is not None:
            start = datetime.fromisoformat(f"{year}-{month}-{day}{clock}")
            return start, start + timedelta(microseconds=1)
        start = datetime(int(year), int(month or 1), int(day or 1), tzinfo=OSLO)
    except ValueError:
        raise SearchError("date is not a valid calendar date") from None
    if day is not None:
        end = (start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=OSLO)
    elif month is not None:
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    else:
        end = start.replace(year=start.year + 1)
    return start, end


def _dates(values: list[str]) -> tuple[datetime | None, datetime | None]:
    since: datetime | None = None
    until: datetime | None = None
    for value in values:
        prefix, rest = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        if prefix not in DATE_PREFIXES:
            raise SearchError(f"date prefix {prefix[:2]} is not supported (supported: {', '.join(DATE_PREFIXES)})")
        start, end = period(rest)
        low = {"eq": start, "ge": start, "gt": end}.get(prefix)
        high = {"eq": end, "le": end, "lt": start}.get(prefix)
        since = low if low is not None and (since is None or low > since) else since
        until = high if high is not None and (until is None or high < until) else until
    return since, until


def cursor(key: tuple[Any, ...]) -> str:
    """The `_cursor` value of the page after the result with this sort key."""
    plain = [part.isoformat() if isinstance(part, datetime) else str(part) for part in key]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _after(value: str) -> tuple[Any, ...]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
            raise ValueError
        return tuple(_part(p) for p in parts)
    except ValueError:
        raise SearchError("_cursor is not a position this server made") from None


def _part(value: str) -> Any:
    if plain_digits(value):
        return int(value)
    if "T" in value:
        return datetime.fromisoformat(value)
    return value
