"""Vitals a nurse enters at a home visit: checked against the metric catalogue, stored as observations with
source `manual` and their author, and queued for evaluation like a gateway's readings, so the rules judge
them the same way (with respiration rate, consciousness and oxygen entered, NEWS2 is complete).

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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

from psycopg import AsyncConnection

from alerts.news2.window import ON_AIR, ON_OXYGEN
from alerts.wording.formats import Reader
from cloud.ingest.store import queue_evaluations
from cloud.registry.errors import ConflictError
from cloud.registry.patients import STOPPED, lifecycle_of
from common.i18n import N_
from device_profiles import Catalogue, load_catalogue

# Field of the entry -> metric of the catalogue, in the order of the NEWS2 chart.
FIELDS: Final[Mapping[str, str]] = {
    "resp_rate": "resp.rate",
    "spo2": "spo2",
    "oxygen": "oxygen.supplemental",
    "bp_systolic": "bp.systolic",
    "bp_diastolic": "bp.diastolic",
    "pulse": "heart_rate",
    "consciousness": "consciousness",
    "temperature": "body.temperature",
}
MAX_AGE: Final = timedelta(hours=24)
# A phone's clock a little ahead of the server's is not a measurement from the future.
FUTURE_TOLERANCE: Final = timedelta(minutes=2)
SOURCE: Final = "manual"

# A labelled state keeps its label in the context, as ingest stores it (the series API shows it).
_INSERT = (
    "INSERT INTO observations (source, entered_by, audit_id, patient_id, metric, value, unit, t, measured_at, "
    "received_at, context) SELECT %s, %s, %s, %s, metric, value, unit, %s, %s, %s, "
    "CASE WHEN label IS NULL THEN NULL ELSE jsonb_build_object('label', label) END "
    "FROM unnest(%s::text[], %s::float8[], %s::text[], %s::text[]) AS r(metric, value, unit, label)"
)


@dataclass(frozen=True)
class Problem:
    """Why one field was refused: an English source message (the gettext msgid) and its values."""

    field: str
    message: str
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def text(self, reader: Reader, catalogue: Catalogue | None = None) -> str:
        """The message in the reader's language, with measurement names and numbers written their way."""
        metric = (catalogue or load_catalogue()).metrics.get(FIELDS.get(self.field, ""))
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
    true or false) and the time measured (None: now)."""

    values: Mapping[str, float | str | bool | None]
    measured_at: datetime | None = None


@dataclass(frozen=True)
class Reading:
    """One stored value: the metric, its canonical value (a level's index for labelled states, whose `label`
    is kept too) and unit."""

    metric: str
    value: float
    unit: str
    label: str | None = None


@dataclass(frozen=True)
class Entered:
    """What was stored for the visit."""

    measured_at: datetime
    readings: tuple[Reading, ...]


def _reading(name: str, raw: float | str | bool, catalogue: Catalogue) -> Reading | Problem:
    metric = catalogue[FIELDS[name]]
    if metric.levels is not None:
        if name == "oxygen" and not isinstance(raw, bool):
            return Problem(name, N_("Say whether the person gets supplemental oxygen (yes or no)."))
        label = (ON_OXYGEN if raw else ON_AIR) if isinstance(raw, bool) else str(raw).strip().upper()
        if label not in metric.levels:
            return Problem(name, N_("{name} must be one of {levels}."), {"levels": ", ".join(metric.levels)})
        return Reading(metric.key, float(metric.levels.index(label)), metric.unit, label)
    if isinstance(raw, (bool, str)) or not metric.within_range(float(raw)):
        assert metric.range is not None  # a metric without levels has a range (catalogue schema)
        low, high = metric.range
        limits = {"low": float(low), "high": float(high)}
        return Problem(name, N_("{name} must be between {low} and {high} {unit}."), limits)
    return Reading(metric.key, float(raw), metric.unit)


def check(entry: Entry, now: datetime, catalogue: Catalogue | None = None) -> tuple[datetime, list[Reading]]:
    """The time measured and the readings to store; raises `VitalsRefusedError` naming every bad field."""
    catalogue = catalogue or load_catalogue()
    problems: list[Problem] = []
    readings: list[Reading] = []
    for name, raw in entry.values.items():
        if name not in FIELDS:
            problems.append(Problem(name, N_("Not a measurement of a home visit.")))
        elif raw is not None:
            found = _reading(name, raw, catalogue)
            if isinstance(found, Problem):
                problems.append(found)
            else:
                readings.append(found)
    if not readings and not problems:
        problems.append(Problem("values", N_("Enter at least one measurement.")))
    values = entry.values
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
             [r.label for r in readings]),
        )  # fmt: skip
        await queue_evaluations(conn, [(patient_id, r.metric) for r in readings])
    return Entered(measured_at, tuple(readings))
