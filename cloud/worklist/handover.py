"""The shift handover: what happened to my teams' patients since a chosen time, and what is still waiting.

Alerts opened, acknowledged and resolved (with their outcomes) since `since`, and every alert still open,
whenever it opened; patients whose alerts are paused (a hospital stay) now or since, and patients with a
baseline proposal waiting for review. Scope as the worklist's: a nurse's and team lead's care teams, the
whole municipality for the roles that have it. Each alert is worded for the reader (cloud/worklist/texts.py)
and names the people who acted.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel

from alerts.wording import AlertText, Reader
from alerts.wording.outcomes import outcome_text
from cloud.access.directory import staff_names
from cloud.worklist.texts import AlertSummary, describe_rows, summary_fields
from common.i18n import N_

DEFAULT_SPAN: Final = timedelta(hours=8)
LONGEST: Final = timedelta(days=7)
# A browser's clock a little ahead of the server's does not make its "now" a time in the future.
CLOCK_TOLERANCE: Final = timedelta(minutes=2)
LIMIT: Final = 1000
_SCOPE = (
    "p.municipality_id = %(town)s AND (%(teams)s::uuid[] IS NULL OR p.care_team_id = ANY(%(teams)s::uuid[])) "
    "AND NOT p.id = ANY(%(hidden)s::uuid[])"
)
_ALERTS = (
    "SELECT a.id, a.patient_id, p.display_name, a.rule, a.severity, a.state, a.explanation, a.opened_at, "  # noqa: S608
    "a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.resolution FROM alerts a "
    f"JOIN patients p ON p.id = a.patient_id WHERE {_SCOPE} AND a.episode_id IS NULL "
    "AND (a.resolved_at IS NULL OR a.opened_at >= %(since)s "
    "OR a.acknowledged_at >= %(since)s OR a.resolved_at >= %(since)s) ORDER BY a.opened_at, a.id LIMIT %(limit)s"
)
_OUTCOMES = (
    "SELECT alert_id, outcome, at, recorded_by, note FROM alert_outcomes WHERE alert_id = ANY(%s) ORDER BY at, id"
)
_PAUSED = (
    "SELECT p.id AS patient_id, p.display_name AS patient, s.starts_at, s.until, s.reason, s.set_by "  # noqa: S608
    f"FROM patient_pauses s JOIN patients p ON p.id = s.patient_id WHERE {_SCOPE} AND s.starts_at <= %(now)s "
    "AND (s.until IS NULL OR s.until > %(since)s) ORDER BY s.starts_at, s.id"
)
_WAITING = (
    "SELECT p.id AS patient_id, p.display_name AS patient, b.id AS proposal_id, b.occasion, b.created_at "  # noqa: S608
    f"FROM baseline_proposals b JOIN patients p ON p.id = b.patient_id WHERE {_SCOPE} AND b.status = 'proposed' "
    "ORDER BY b.created_at, b.id"
)


class HandoverError(ValueError):
    """A handover period the service refuses (422); `message` is the source text for the catalogue."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message.format(**values))
        self.message = message
        self.values = values

    def text(self, reader: Reader) -> str:
        """The refusal in the reader's language."""
        return reader._(self.message).format(**self.values)


class OutcomeNote(BaseModel):
    """An outcome recorded on an alert, in words, with who recorded it."""

    outcome: str
    text: str
    at: datetime
    by: str | None
    note: str | None


class HandoverAlert(AlertSummary):
    """One alert of the handover, worded, with who acted; times in UTC."""

    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    outcomes: list[OutcomeNote]


class PausedPatient(BaseModel):
    """A patient whose non-alarm alerts are paused (a hospital stay), and why."""

    patient_id: UUID
    patient: str
    starts_at: datetime
    until: datetime | None
    reason: str
    set_by: str | None


class WaitingProposal(BaseModel):
    """A personal-baseline proposal waiting for a nurse's decision."""

    patient_id: UUID
    patient: str
    proposal_id: int
    occasion: str
    created_at: datetime


class Handover(BaseModel):
    """Everything a shift hands over, since `since` until `until` (the server's clock)."""

    since: datetime
    until: datetime
    opened: list[HandoverAlert]
    acknowledged: list[HandoverAlert]
    resolved: list[HandoverAlert]
    still_open: list[HandoverAlert]
    paused: list[PausedPatient]
    waiting_proposals: list[WaitingProposal]


def period_start(since: datetime | None, now: datetime) -> datetime:
    """The start of the handover: `since`, or `DEFAULT_SPAN` ago; raises `HandoverError` for a time in the
    future or more than `LONGEST` ago."""
    if since is None:
        return now - DEFAULT_SPAN
    if since > now + CLOCK_TOLERANCE:
        raise HandoverError(N_("The start of the handover cannot be in the future."))
    if since < now - LONGEST:
        raise HandoverError(N_("The handover covers at most {days} days."), days=LONGEST.days)
    return since


def _alert(row: dict[str, Any], text: AlertText, people: dict[UUID, str], outcomes: list[OutcomeNote]) -> HandoverAlert:
    return HandoverAlert(
        **summary_fields(row, text),
        opened_at=row["opened_at"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=people.get(row["acknowledged_by"]),
        resolved_at=row["resolved_at"],
        resolved_by=people.get(row["resolved_by"]),
        resolution=row["resolution"],
        outcomes=outcomes,
    )


async def _read(conn: AsyncConnection[Any], params: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The rows of the period: alerts, their outcomes, pauses and waiting proposals."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_ALERTS, params | {"limit": LIMIT})
    found = {"alerts": await cur.fetchall()}
    await cur.execute(_OUTCOMES, ([row["id"] for row in found["alerts"]],))
    found["outcomes"] = await cur.fetchall()
    await cur.execute(_PAUSED, params)
    found["pauses"] = await cur.fetchall()
    await cur.execute(_WAITING, params)
    found["waiting"] = await cur.fetchall()
    return found


async def handover(
    conn: AsyncConnection[Any],
    municipality_id: UUID,
    team_ids: list[UUID] | None,
    since: datetime,
    reader: Reader,
    now: datetime | None = None,
    hidden: Collection[UUID] = (),
) -> Handover:
    """The handover of the scope (a municipality, or some of its teams, less `hidden`: the patients who blocked
    the caller) from `since` until now."""
    until = now or datetime.now(UTC)
    params = {"town": municipality_id, "teams": team_ids, "hidden": list(hidden), "since": since, "now": until}
    found = await _read(conn, params)
    rows, recorded, pauses = found["alerts"], found["outcomes"], found["pauses"]
    acted = [row[key] for row in rows for key in ("acknowledged_by", "resolved_by")]
    people = await staff_names(
        conn, municipality_id, [*acted, *(r["recorded_by"] for r in recorded), *(p["set_by"] for p in pauses)]
    )
    notes: dict[int, list[OutcomeNote]] = {}
    for r in recorded:
        text = outcome_text(r["outcome"], reader) or r["outcome"]
        note = OutcomeNote(outcome=r["outcome"], text=text, at=r["at"], by=people.get(r["recorded_by"]), note=r["note"])
        notes.setdefault(r["alert_id"], []).append(note)
    texts = await describe_rows(conn, rows, reader)
    alerts = [_alert(row, text, people, notes.get(row["id"], [])) for row, text in zip(rows, texts, strict=True)]
    return Handover(
        since=since,
        until=until,
        opened=[a for a in alerts if a.opened_at >= since],
        acknowledged=[a for a in alerts if a.acknowledged_at is not None and a.acknowledged_at >= since],
        resolved=[a for a in alerts if a.resolved_at is not None and a.resolved_at >= since],
        still_open=[a for a in alerts if a.resolved_at is None],
        paused=[PausedPatient(**{**pause, "set_by": people.get(pause["set_by"])}) for pause in pauses],
        waiting_proposals=[WaitingProposal(**waiting) for waiting in found["waiting"]],
    )
