"""Vitals a nurse enters at a home visit: checked against the metric catalogue, stored as observations with
source `manual` and their author, and queued for evaluation like a gateway's readings, so the rules judge
them the same way (with respiration rate, consciousness and oxygen entered, NEWS2 is complete). The person's
answers to the symptom questions and the CAT can be entered the same way: scores are whole numbers within
their scales, and a CAT is entered as its total or as its eight answers, which are added up here and kept
with the reading; a CAT with an unanswered question is refused (`cloud.ingest.questionnaire`).

Every value is checked before anything is written, and every refusal names its field with a message in the
reader's language, so a form can show it next to the field; one bad value writes nothing at all. The range a
value may take is the catalogue's plausible range ("could this be a real reading at home"), not a clinical
limit: a pulse of 35 is stored (and alerted on), a pulse of 500 is a typing error. The time measured defaults
to now and may be neither in the future nor older than `MAX_AGE`: older findings belong in the journal, and
the rules would not look back at them anyway.

Each reading keeps the staff member who entered it and the audit record of the request (migration 0010).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from alerts.news2.window import ON_AIR, ON_OXYGEN
from alerts.wording.formats import Reader
from cloud.ingest.questionnaire import CAT_METRIC, CAT_QUESTIONS, ITEMS_KEY, CatProblem, cat_answers, is_answer
from cloud.ingest.store import queue_evaluations
from cloud.registry.errors import ConflictError
from cloud.registry.patients import STOPPED, lifecycle_of
from common.i18n import N_
from device_profiles import Catalogue, load_catalogue

# Field of the entry -> metric of the catalogue: the NEWS2 chart's, in its order, then the symptom questions.
FIELDS: Final[Mapping[str, str]] = {
    "resp_rate": "resp.rate",
    "spo2": "spo2",
    "oxygen": "oxygen.supplemental",
    "bp_systolic": "bp.systolic",
    "bp_diastolic": "bp.diastolic",
    "pulse": "heart_rate",
    "consciousness": "consciousness",
    "temperature": "body.temperature",
    "dyspnoea": "symptom.dyspnoea",
    "oedema": "symptom.oedema",
    "wellbeing": "symptom.wellbeing",
    "cat": CAT_METRIC,
}
# The CAT's eight answers, an alternative to its total (`cat`).
CAT_ITEMS: Final = "cat_items"
_METRIC_OF: Final[Mapping[str, str]] = {**FIELDS, CAT_ITEMS: CAT_METRIC}
_CAT_PROBLEMS: Final[Mapping[str, str]] = {
    "not_a_list": N_("The CAT's answers are a list of {expected} numbers."),
    "count": N_("The CAT has {expected} questions; {count} answers were given."),
    "unanswered": N_(
        "Question {question} of the CAT is not answered; a CAT with an unanswered question is not scored."
    ),
    "not_an_answer": N_("Question {question} of the CAT is answered with a whole number from 0 to 5."),
}
MAX_AGE: Final = timedelta(hours=24)
# A phone's clock a little ahead of the server's is not a measurement from the future.
FUTURE_TOLERANCE: Final = timedelta(minutes=2)
SOURCE: Final = "manual"

# A labelled state keeps its label in the context, as ingest stores it (the series API shows it); a CAT entered
# as its answers keeps them, as a gateway sends them.
_INSERT = (
    "INSERT INTO observations (source, entered_by, audit_id, patient_id, metric, value, unit, t, measured_at, "
    "received_at, context) SELECT %s, %s, %s, %s, metric, value, unit, %s, %s, %s, context "
    "FROM unnest(%s::text[], %s::float8[], %s::text[], %s::jsonb[]) AS r(metric, value, unit, context)"
)


@dataclass(frozen=True)
class Problem:
    """Why one field was refused: an English source message (the gettext msgid) and its values."""

    field: str
    message: str
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def text(self, reader: Reader, catalogue: Catalogue | None = None) -> str:
        """The message in the reader's language, with measurement names and numbers written their way."""
        metric = (catalogue or load_catalogue()).metrics.get(_METRIC_OF.get(self.field, ""))
        shown = {key: reader.number(v) if isinstance(v, float) else str(v) for key, v in self.values.items()}
        if metric is not None:
            shown["name"] = getattr(metric.names, reader.language, metric.names.nb)
            shown["unit"] = reader.unit(metric.unit)
        return reader._(self.message).format(**shown)


class NotInServiceError(ConflictError):
    """The patient has left the service (discharged or deceased): no new readings (409)."""

    message = N_("The patient is no longer followed up ({lifecycle}); nothing was stored.")

    def __init__(self, lifecycle: str) -> None:
        super().__init__(self.message.format(lifecycle=lifecycle))
        self.lifecycle = lifecycle

    def text(self, reader: Reader) -> str:
        """The message in the reader's language."""
        return reader._(self.message).format(lifecycle=reader._(self.lifecycle))


class VitalsRefusedError(ValueError):
    """The entry was refused; nothing was written. One problem per refused field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Entry:
    """What the nurse entered: values by field (numbers in the catalogue's unit, the ACVPU letter, oxygen as
    true or false, the CAT's answers as a list) and the time measured (None: now)."""

    values: Mapping[str, float | str | bool | Sequence[float | None] | None]
    measured_at: datetime | None = None


@dataclass(frozen=True)
class Reading:
    """One stored value: the metric, its canonical value (a level's index for labelled states, whose `label`
    is kept too) and unit; a CAT entered as its answers keeps them in `items`."""

    metric: str
    value: float
    unit: str
    label: str | None = None
    items: tuple[int, ...] | None = None

    def context(self) -> dict[str, Any] | None:
        """The stored context: the label, or the CAT's answers, or nothing."""
        if self.label is not None:
            return {"label": self.label}
        return {ITEMS_KEY: list(self.items)} if self.items is not None else None


@dataclass(frozen=True)
class Entered:
    """What was stored for the visit."""

    measured_at: datetime
    readings: tuple[Reading, ...]


def _reading(name: str, raw: float | str | bool | Sequence[float | None], catalogue: Catalogue) -> Reading | Problem:
    metric = catalogue[FIELDS[name]]
    if metric.levels is not None:
        if name == "oxygen" and not isinstance(raw, bool):
            return Problem(name, N_("Say whether the person gets supplemental oxygen (yes or no)."))
        label = (ON_OXYGEN if raw else ON_AIR) if isinstance(raw, bool) else str(raw).strip().upper()
        if label not in metric.levels:
            return Problem(name, N_("{name} must be one of {levels}."), {"levels": ", ".join(metric.levels)})
        return Reading(metric.key, float(metric.levels.index(label)), metric.unit, label)
    assert metric.range is not None  # a metric without levels has a range (catalogue schema)
    low, high = metric.range
    limits = {"low": float(low), "high": float(high)}
    if metric.kind == "ordinal":
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not is_answer(float(raw), low, high):
            return Problem(name, N_("{name} is answered with a whole number from {low} to {high}."), limits)
    elif isinstance(raw, bool) or not isinstance(raw, int | float) or not metric.within_range(float(raw)):
        return Problem(name, N_("{name} must be between {low} and {high} {unit}."), limits)
    return Reading(metric.key, float(raw), metric.unit)


def _cat(items: object, total: object) -> Reading | Problem:
    """The CAT from its answers; its total, when entered too, must agree."""
    answers = cat_answers(items)
    if isinstance(answers, CatProblem):
        return Problem(CAT_ITEMS, _CAT_PROBLEMS[answers.fault],
                       {"expected": CAT_QUESTIONS, "count": answers.count, "question": answers.question})  # fmt: skip
    score = sum(answers)
    if isinstance(total, int | float) and not isinstance(total, bool) and total != score:
        mismatch = N_("The CAT total {total} does not match its answers, which add up to {sum}.")
        return Problem("cat", mismatch, {"total": float(total), "sum": score})
    return Reading(CAT_METRIC, float(score), "{score}", items=answers)


def check(entry: Entry, now: datetime, catalogue: Catalogue | None = None) -> tuple[datetime, list[Reading]]:
    """The time measured and the readings to store; raises `VitalsRefusedError` naming every bad field."""
    catalogue = catalogue or load_catalogue()
    problems: list[Problem] = []
    readings: list[Reading] = []
    values = entry.values
    with_items = values.get(CAT_ITEMS) is not None
    for name, raw in values.items():
        if name not in _METRIC_OF:
            problems.append(Problem(name, N_("Not a measurement of a home visit.")))
        elif raw is not None and not (name == "cat" and with_items):  # a CAT's total and answers are one reading
            found = _cat(raw, values.get("cat")) if name == CAT_ITEMS else _reading(name, raw, catalogue)
            if isinstance(found, Problem):
                problems.append(found)
            else:
                readings.append(found)
    if not readings and not problems:
        problems.append(Problem("values", N_("Enter at least one measurement.")))
    systolic, diastolic = values.get("bp_systolic"), values.get("bp_diastolic")
    if isinstance(systolic, (int, float)) and isinstance(diastolic, (int, float)) and diastolic >= systolic:
        problems.append(Problem("bp_diastolic", N_("The diastolic pressure must be lower than the systolic.")))
    measured_at = entry.measured_at or now
    if measured_at.tzinfo is None:
        problems.append(Problem("measured_at", N_("Give the time measured with its time zone.")))
    elif measured_at > now + FUTURE_TOLERANCE:
        problems.append(Problem("measured_at", N_("The time measured cannot be in the future.")))
    elif measured_at < now - MAX_AGE:
        hours = int(MAX_AGE.total_seconds() // 3600)
        too_old = N_("The time measured is more than {hours} hours ago.")
        problems.append(Problem("measured_at", too_old, {"hours": hours}))
    if problems:
        raise VitalsRefusedError(problems)
    return measured_at.astimezone(UTC), readings


async def enter(
    conn: AsyncConnection[Any],
    *,
    municipality_id: UUID,
    patient_id: UUID,
    entry: Entry,
    by: UUID,
    audit_id: int,
    now: datetime | None = None,
) -> Entered:
    """Check the entry, store its readings and queue their evaluation in one transaction.

    Raises `VitalsRefusedError` (422) for bad values and `NotInServiceError` (409) for a patient who has left the
    service; in both cases nothing is written.
    """
    moment = now or datetime.now(UTC)
    measured_at, readings = check(entry, moment)
    async with conn.transaction():
        lifecycle = await lifecycle_of(conn, municipality_id, patient_id)
        if lifecycle in STOPPED:
            raise NotInServiceError(lifecycle)
        await conn.execute(
            _INSERT,
            (SOURCE, by, audit_id, patient_id, measured_at, measured_at, moment,
             [r.metric for r in readings], [r.value for r in readings], [r.unit for r in readings],
             [_jsonb(r.context()) for r in readings]),
        )  # fmt: skip
        await queue_evaluations(conn, [(patient_id, r.metric) for r in readings])
    return Entered(measured_at, tuple(readings))


def _jsonb(context: dict[str, Any] | None) -> Jsonb | None:
    return None if context is None else Jsonb(context)
