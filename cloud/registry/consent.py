"""Consent or documented assessment per supervision sensor (digitalt tilsyn, R-WT-7).

A supervision sensor (a device whose catalogue entry measures door, bed or motion) is activated for a
person only while a record covers it: a consent, or a documented assessment where the person lacks the
capacity to consent, from `valid_from` to the end of its review date (Europe/Oslo) unless withdrawn. A
shared sensor assigned to a home needs a record for every resident. Ingest quarantines the readings of a
sensor that is not covered with reason `no_consent`; nothing is lost, and nothing is evaluated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any, Literal
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row
from pydantic import BaseModel, ConfigDict, computed_field

from cloud.registry.assignments import owned_device
from cloud.registry.errors import NotFoundError, RegistryError
from cloud.registry.patients import lifecycle_of
from common.timefmt import OSLO
from device_profiles.device_catalogue import load_devices

Basis = Literal["consent", "assessment"]


@cache
def supervision_profiles() -> frozenset[str]:
    """Catalogue ids of supervision sensors (the catalogue is fixed for the life of a process)."""
    return frozenset(entry.id for entry in load_devices().entries.values() if entry.digital_supervision)


def expiry(review_by: date) -> datetime:
    """A record is valid through its review date: it lapses at the next Oslo midnight."""
    return datetime.combine(review_by + timedelta(days=1), time(0), OSLO).astimezone(UTC)


@dataclass(frozen=True)
class ConsentBook:
    """Validity intervals `[start, end)` per (device, person), loaded once per ingest batch."""

    intervals: dict[tuple[UUID, UUID], list[tuple[datetime, datetime]]]

    def covers(self, device_id: UUID, people: Iterable[UUID], moment: datetime) -> bool:
        """True when every person has a record for the device valid at `moment` (and there is someone)."""
        people = list(people)
        return bool(people) and all(
            any(start <= moment < end for start, end in self.intervals.get((device_id, person), ()))
            for person in people
        )


async def load_book(conn: AsyncConnection[Any], device_ids: Iterable[UUID]) -> ConsentBook:
    """The records of the given devices (one query)."""
    intervals: dict[tuple[UUID, UUID], list[tuple[datetime, datetime]]] = {}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT device_id, patient_id, valid_from, least(expires_at, coalesce(withdrawn_at, expires_at)) AS ends "
        "FROM supervision_consents WHERE device_id = ANY(%s)",
        (list(device_ids),),
    )
    for row in await cur.fetchall():
        intervals.setdefault((row["device_id"], row["patient_id"]), []).append((row["valid_from"], row["ends"]))
    return ConsentBook(intervals)


class ConsentRecord(BaseModel):
    """A consent or assessment as listed; a pydantic model so that the API answers with it as it is."""

    model_config = ConfigDict(frozen=True)

    id: int
    device_id: UUID
    basis: str
    note: str
    valid_from: datetime
    review_by: date
    expires_at: datetime
    withdrawn_at: datetime | None
    recorded_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> str:
        """`valid`, `expired` or `withdrawn` now."""
        if self.withdrawn_at is not None:
            return "withdrawn"
        return "valid" if datetime.now(UTC) < self.expires_at else "expired"


_COLUMNS = "id, device_id, basis, note, valid_from, review_by, expires_at, withdrawn_at, recorded_at"


async def record(
    conn: AsyncConnection[Any],
    *,
    municipality_id: UUID,
    patient_id: UUID,
    device_id: UUID,
    basis: Basis,
    note: str,
    review_by: date,
    valid_from: datetime | None,
    by: UUID,
) -> ConsentRecord:
    """Record a consent or assessment for one supervision sensor of a patient of the municipality."""
    today = datetime.now(OSLO).date()
    if review_by < today:
        raise RegistryError(f"the review date {review_by.isoformat()} has passed")
    start = valid_from or datetime.now(UTC)
    if start >= expiry(review_by):
        raise RegistryError("valid_from must be before the end of the review date")
    async with conn.transaction():
        await lifecycle_of(conn, municipality_id, patient_id)
        device = await owned_device(conn, municipality_id, device_id)
        if device["profile_id"] not in supervision_profiles():
            raise RegistryError(f"{device['profile_id']} is not a supervision sensor; it needs no consent record")
        records = conn.cursor(row_factory=class_row(ConsentRecord))
        await records.execute(
            "INSERT INTO supervision_consents (municipality_id, patient_id, device_id, basis, note, valid_from, "  # noqa: S608
            f"review_by, expires_at, recorded_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (municipality_id, patient_id, device_id, basis, note, start, review_by, expiry(review_by), by),
        )
        row = await records.fetchone()
    assert row is not None
    return row


async def withdraw(conn: AsyncConnection[Any], *, patient_id: UUID, consent_id: int, by: UUID) -> ConsentRecord:
    """Withdraw a record from now on (idempotent: a withdrawn record keeps its first withdrawal)."""
    cur = conn.cursor(row_factory=class_row(ConsentRecord))
    await cur.execute(
        "UPDATE supervision_consents SET withdrawn_at = coalesce(withdrawn_at, now()), "  # noqa: S608
        f"withdrawn_by = coalesce(withdrawn_by, %s) WHERE id = %s AND patient_id = %s RETURNING {_COLUMNS}",
        (by, consent_id, patient_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError("No such consent record for this patient.")
    return row


async def list_for(conn: AsyncConnection[Any], patient_id: UUID) -> list[ConsentRecord]:
    """A patient's records, newest first."""
    cur = conn.cursor(row_factory=class_row(ConsentRecord))
    await cur.execute(
        f"SELECT {_COLUMNS} FROM supervision_consents WHERE patient_id = %s ORDER BY id DESC",  # noqa: S608
        (patient_id,),
    )
    return await cur.fetchall()


class DueRecord(ConsentRecord):
    """A record whose review date is near, with the patient it belongs to."""

    patient_id: UUID
    display_name: str


async def due_for_review(
    conn: AsyncConnection[Any], municipality_id: UUID, team_ids: Iterable[UUID] | None, hidden: Iterable[UUID],
    within_days: int = 30,
) -> list[DueRecord]:  # fmt: skip
    """Records in force (not withdrawn, not lapsed) whose review date falls within `within_days` of today
    (Europe/Oslo), soonest first; with `team_ids`, only of those care teams' patients, never of `hidden`."""
    today = datetime.now(OSLO).date()
    teams = list(team_ids) if team_ids is not None else None
    cur = conn.cursor(row_factory=class_row(DueRecord))
    await cur.execute(
        "SELECT c.id, c.device_id, c.basis, c.note, c.valid_from, c.review_by, c.expires_at, c.withdrawn_at, "
        "c.recorded_at, c.patient_id, p.display_name FROM supervision_consents c "
        "JOIN patients p ON p.id = c.patient_id WHERE c.municipality_id = %(m)s AND c.withdrawn_at IS NULL "
        "AND c.expires_at > now() AND c.review_by <= %(last)s "
        "AND (%(teams)s::uuid[] IS NULL OR p.care_team_id = ANY(%(teams)s::uuid[])) "
        "AND NOT p.id = ANY(%(hidden)s::uuid[]) ORDER BY c.review_by, p.display_name, c.id",
        {"m": municipality_id, "last": today + timedelta(days=within_days), "teams": teams, "hidden": list(hidden)},
    )
    return await cur.fetchall()
