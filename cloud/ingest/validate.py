"""Per-reading validation against the metric catalogue. Pure: no database.

`raw` is one reading of the wire contract (device_profiles/wire.py) as the JSON parser returned it, checked
as a plain dict, field by field: a batch holds thousands, and a bad one must be told apart by its reason.
A reading that fails gets one reason from the closed set of the quarantine table; everything else in the
same batch is unaffected. `validate` never raises, whatever the JSON value (size, depth, type, range): the
checks bound what they walk (a context is at most `MAX_CONTEXT_BYTES` and `MAX_CONTEXT_DEPTH` levels, a time
is converted to UTC only within the calendar, a number to float only within its range), and anything that
still goes wrong in the checks of one reading makes that reading `malformed`, logged, never the batch.

An alarm-class reading the gateway raised locally while its uplink was down carries `raised_locally`, the
gateway's attempts (device_profiles/wire.py): checked field by field, any fault makes the reading malformed,
and stored by ingest in `local_alarm_attempts` (cloud/ingest/store.py).

Questionnaire answers are readings too: an answer on a scale must be a whole number, and a CAT sent with its
answers must have all eight, each 0-5, adding up to its total (`cloud.ingest.questionnaire`).
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NamedTuple

from cloud.ingest.questionnaire import CAT_METRIC, ITEMS_KEY, CatProblem, cat_answers
from device_profiles import Catalogue, UnitError
from device_profiles.wire import (
    LOCAL_PATHS,
    MAX_LOCAL_ATTEMPTS,
    MAX_LOCAL_DETAIL,
    RAISED_LOCALLY,
    WireJSON,
    WireReading,
)

Reason = Literal[
    "malformed",
    "unknown_metric",
    "unit_not_convertible",
    "implausible_value",
    "implausible_time",
    "unknown_device",
    "foreign_device",
    "unassigned",
    "no_consent",
    "sequence_conflict",
]
REASONS: tuple[Reason, ...] = Reason.__args__  # type: ignore[attr-defined]

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(minutes=5)
BACKFILL_AFTER = timedelta(minutes=5)
MAX_CONTEXT_BYTES = 4096
MAX_CONTEXT_DEPTH = 16
# Integers a float holds exactly: the catalogue's ranges are far inside, larger ones take the Decimal path.
_EXACT_INT = 2**53

log = logging.getLogger(__name__)


class ValidReading(NamedTuple):
    """A reading that passed validation, in canonical units, not yet matched to a device.

    A named tuple rather than a frozen dataclass: a batch builds thousands, and this is five times cheaper.
    """

    seq: int
    device: str
    metric: str
    value: float
    unit: str
    t: datetime
    measured_at: datetime | None
    received_at: datetime
    context: dict[str, Any] | None
    backfilled: bool
    raised_locally: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A reading that goes to quarantine, with its raw form kept for people to inspect."""

    seq: int | None
    device: str | None
    reason: Reason
    detail: str
    raw: Any
    received_at: datetime | None


def as_sent(reading: ValidReading) -> WireJSON:
    """A validated reading in the form a gateway sends (kept in quarantine when it is refused later)."""
    wire = WireReading(
        seq=reading.seq,
        device=reading.device,
        metric=reading.metric,
        value=reading.value,
        unit=reading.unit,
        measured_at=reading.measured_at,
        received_at=reading.received_at,
        context=reading.context,
    )
    return wire.encode(omit_empty_context=True)


# JSON allows NUL and unpaired surrogate escapes; PostgreSQL text and jsonb (and UTF-8) refuse both. A paired
# escape decodes to one character, so any surrogate left in a decoded string is unpaired.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """`text` with NUL and unpaired surrogates replaced by U+FFFD, so PostgreSQL can keep it."""
    return _UNSTORABLE.sub("\ufffd", text)


def storable(raw: Any) -> Any:
    """`raw` as PostgreSQL can keep it (see `storable_text`; infinities become text): the quarantine must keep
    what it can of a reading, never fail the batch on it."""
    if isinstance(raw, str):
        return storable_text(raw)
    if isinstance(raw, float) and not math.isfinite(raw):
        return str(raw)  # a number like 1e400 parses to infinity, which jsonb refuses
    if isinstance(raw, dict):
        return {storable(key): storable(value) for key, value in raw.items()}
    if isinstance(raw, list):
        return [storable(value) for value in raw]
    return raw


class _OutsideCalendarError(Exception):
    """A well-formed time whose moment in UTC is before year 1 or after year 9999."""


def _time(raw: Any, field: str) -> datetime | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > 40:
        raise ValueError(f"{field} must be an ISO-8601 string")
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        raise ValueError(f"{field} has no UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise _OutsideCalendarError(f"{field} {raw} is outside the calendar in UTC") from None


def _number(raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError("value must be a JSON number")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ValueError("value is not finite")
    try:
        # An integer converts exactly, whatever its length (its decimal text is limited to 4,300 digits).
        return Decimal(int(raw)) if isinstance(raw, int) else Decimal(str(raw))
    except InvalidOperation:
        raise ValueError("value is not a number") from None


def _context_fits(context: dict[Any, Any]) -> bool:
    """Within `MAX_CONTEXT_DEPTH` levels and `MAX_CONTEXT_BYTES` values (each takes at least a byte of JSON),
    every number finite: walked without recursion, so the JSON encoding that follows cannot recurse too deep,
    and PostgreSQL's jsonb takes it."""
    stack: list[tuple[Any, int]] = [(context, 1)]
    values = 0
    while stack:
        item, depth = stack.pop()
        if depth > MAX_CONTEXT_DEPTH:
            return False
        for child in item.values() if isinstance(item, dict) else item:
            values += 1
            if values > MAX_CONTEXT_BYTES or (isinstance(child, float) and not math.isfinite(child)):
                return False
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return True


def _identity(raw: Any) -> tuple[int | None, str | None]:
    """The reading's sequence number and device address when they are valid (kept with any rejection)."""
    if not isinstance(raw, dict):
        return None, None
    seq, device = dict.get(raw, "seq"), dict.get(raw, "device")
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) and 0 < seq < 2**63 else None
    device = device if isinstance(device, str) and 0 < len(device) <= 200 and not _UNSTORABLE.search(device) else None
    return seq, device


def validate(raw: Any, catalogue: Catalogue, stored_at: datetime) -> ValidReading | Rejection:
    """Check one reading as sent by a gateway. Never raises: a failure inside the checks is this reading's
    `malformed`, not the batch's error."""
    seq, device = _identity(raw)
    try:
        return _check(raw, seq, device, catalogue, stored_at)
    except Exception as exc:  # whatever it is, it must cost this reading only
        log.warning(
            "reading seq=%s could not be checked (%s: %s); quarantined as malformed",
            seq, type(exc).__name__, str(exc)[:200],
        )  # fmt: skip
        return Rejection(
            seq, device, "malformed", f"the reading could not be checked ({type(exc).__name__})", raw, None
        )


def _storable_context(context: Any) -> bool:
    """Whether a context is an object within the size and depth limits that PostgreSQL's jsonb can hold."""
    encoded = json.dumps(context) if isinstance(context, dict) and _context_fits(context) else ""
    return (
        bool(encoded)
        and len(encoded) <= MAX_CONTEXT_BYTES
        and "\\u0000" not in encoded
        and not (
            # Any surrogate is escaped as \ud8..-\udf..; only then look for an unpaired one.
            "\\ud" in encoded and _UNSTORABLE.search(json.dumps(context, ensure_ascii=False))
        )
    )


def _local_attempts(raw: Any) -> list[dict[str, Any]]:
    """`raised_locally` as sent, checked strictly (exactly the wire fields, each of its type); raises
    ValueError naming what is wrong."""
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_LOCAL_ATTEMPTS:
        raise ValueError(f"{RAISED_LOCALLY} must be a list of 1 to {MAX_LOCAL_ATTEMPTS} attempts")
    checked = []
    for attempt in raw:
        if not isinstance(attempt, dict) or set(attempt) != {"at", "path", "ok", "detail"}:
            raise ValueError(f"each of {RAISED_LOCALLY} must be an object of exactly at, path, ok and detail")
        at = _time(attempt["at"], f"{RAISED_LOCALLY}.at")
        detail = attempt["detail"]
        if attempt["path"] not in LOCAL_PATHS or not isinstance(attempt["ok"], bool):
            raise ValueError(f"{RAISED_LOCALLY}.path must be one of {list(LOCAL_PATHS)} and ok a boolean")
        if not isinstance(detail, str) or len(detail) > MAX_LOCAL_DETAIL or _UNSTORABLE.search(detail):
            raise ValueError(f"{RAISED_LOCALLY}.detail must be text of at most {MAX_LOCAL_DETAIL} characters")
        assert at is not None  # a null is not an ISO string: _time raised
        checked.append({"at": at, "path": attempt["path"], "ok": attempt["ok"], "detail": detail})
    return checked


def _raised_locally(raw: Any, alarm: bool) -> list[dict[str, Any]] | str | None:
    """The reading's local attempts when it has any (None), or why they cannot be taken."""
    if raw is None:
        return None
    if not alarm:
        return f"only an alarm-class reading carries {RAISED_LOCALLY}"
    try:
        return _local_attempts(raw)
    except (ValueError, _OutsideCalendarError) as exc:
        return str(exc)


def _check(
    raw: Any, seq: int | None, device: str | None, catalogue: Catalogue, stored_at: datetime
) -> ValidReading | Rejection:
    def reject(reason: Reason, detail: str, received: datetime | None = None) -> Rejection:
        return Rejection(seq, device, reason, detail, raw, received)

    if not isinstance(raw, dict):
        return reject("malformed", "a reading must be a JSON object")
    if seq is None:
        return reject("malformed", "seq must be an integer from 1 to 2^63-1")
    if device is None:
        return reject(
            "malformed", "device must be a non-empty string of at most 200 characters, without NUL or unpaired "
            "surrogates"
        )  # fmt: skip
    received: datetime | None = None
    try:
        received = _time(raw.get("received_at"), "received_at")
        measured = _time(raw.get("measured_at"), "measured_at")
    except ValueError as exc:
        return reject("malformed", str(exc))
    except _OutsideCalendarError as exc:
        return reject("implausible_time", str(exc), received)
    if received is None:
        return reject("malformed", "received_at is required")
    context = raw.get("context")
    if context is not None and not _storable_context(context):
        return reject(
            "malformed",
            f"context must be an object of at most {MAX_CONTEXT_BYTES} bytes and {MAX_CONTEXT_DEPTH} levels, "
            "with finite numbers, without NUL or unpaired surrogates",
            received,
        )
    metric_key, unit = raw.get("metric"), raw.get("unit")
    if not isinstance(metric_key, str) or not isinstance(unit, str):
        return reject("malformed", "metric and unit must be strings", received)
    if metric_key not in catalogue:
        return reject("unknown_metric", f"{metric_key[:100]!r} is not in the metric catalogue", received)
    local = _raised_locally(raw.get(RAISED_LOCALLY), metric_key in catalogue.alarm_metrics)
    if isinstance(local, str):
        return reject("malformed", local, received)
    metric = catalogue[metric_key]
    if metric.transient:
        return reject("malformed", f"{metric_key} is a live value, not a reading to store", received)
    value_raw = raw.get("value")
    if metric.levels is not None:
        if value_raw not in metric.levels:
            return reject("implausible_value", f"{metric_key} takes one of {list(metric.levels)}", received)
        value = float(metric.levels.index(value_raw))
        context = {**(context or {}), "label": value_raw}
    elif unit == metric.unit and (
        (type(value_raw) is float and math.isfinite(value_raw))
        or (type(value_raw) is int and -_EXACT_INT <= value_raw <= _EXACT_INT)
    ):
        value = float(value_raw)  # the common case: already canonical, no Decimal round trip
    else:
        try:
            number = catalogue.to_canonical(metric_key, _number(value_raw), unit)
        except UnitError as exc:  # a ValueError too: must come first
            return reject("unit_not_convertible", str(exc), received)
        except ValueError as exc:
            return reject("malformed", str(exc), received)
        value = float(number)  # infinity when beyond float's range
    if metric.levels is None and not metric.within_range(value):
        low, high = metric.range or (0, 0)
        shown = f"{value:g} {metric.unit}" if math.isfinite(value) else "a value beyond the range of a float"
        return reject("implausible_value", f"{shown} is outside {low:g}..{high:g}", received)
    if metric.kind == "ordinal":
        refused = _answer_refused(metric_key, value, context)
        if refused is not None:
            return reject(*refused, received)
    latest = stored_at + FUTURE_TOLERANCE
    for name, moment in (("measured_at", measured), ("received_at", received)):
        if moment is not None and not EARLIEST <= moment <= latest:
            return reject("implausible_time", f"{name} {moment.isoformat()} is before 2000 or in the future", received)
    # Positional: keyword construction of a named tuple costs twice as much, once per reading.
    return ValidReading(
        seq, device, metric_key, value, metric.unit, measured or received, measured, received, context,
        stored_at - received > BACKFILL_AFTER, local,
    )  # fmt: skip


def _answer_refused(metric: str, value: float, context: dict[str, Any] | None) -> tuple[Reason, str] | None:
    """Why a questionnaire answer (already within its range) cannot be scored, or None."""
    if not value.is_integer():
        return "implausible_value", f"{value:g} is not an answer on the scale of {metric}: answers are whole numbers"
    if metric != CAT_METRIC or context is None or ITEMS_KEY not in context:
        return None
    answers = cat_answers(context[ITEMS_KEY])
    if isinstance(answers, CatProblem):
        return ("malformed" if answers.shape else "implausible_value"), answers.detail()
    total = sum(answers)
    if total != value:
        return "implausible_value", f"the CAT total {value:g} does not match its answers, which add up to {total}"
    return None
