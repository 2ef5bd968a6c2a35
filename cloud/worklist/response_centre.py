"""The response centre's view (trygghetssentral): safety alarms only, newest first, with what an operator needs
to act within seconds, and how many were taken within the answer target.

A safety alarm is an alert of the `alarm` event class (rules on the catalogue's alarm-urgency metrics: alarm
button, fall, water leak; cloud/evaluation/state.py) or of an `event` rule (the welfare events, a door opened
at night among them). Open alarms are listed whatever their age, closed ones for `RECENT`. Each carries the
received time (the alert's opening: the moment the centre could see it), when it was taken (acknowledged,
through the alert store like any acknowledgement) and by whom, the newest outcome (recorded on the existing
outcome path), the patient's name, address, key-box or e-lock notes, phones, and next of kin in call order.

The answer share counts the alarms received in the last `RECENT` that were taken within `ANSWER_TARGET`,
out of those taken or waiting longer than the target (one still waiting within the target is not yet late).
A person's resolve also counts as taking it (the alert store fills the acknowledgement then).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel

from alerts.wording import AlertText, Reader
from alerts.wording.outcomes import outcome_text
from cloud.access.directory import staff_names
from cloud.alert_store.chain import call_started
from cloud.registry.patients import Contact, contacts_of
from cloud.worklist.texts import AlertSummary, describe_rows, summary_fields

RECENT: Final = timedelta(hours=24)
ANSWER_TARGET: Final = timedelta(seconds=60)  # the telecare answer target named in issue 19
LIMIT: Final = 200
# Which alerts are safety alarms (a fixed fragment over `alerts a`; the statements below are built from fixed
# fragments only, every value is a parameter). Events never join a worsening episode, so the last condition
# only keeps the rule every screen follows: an episode's members are shown through their episode.
SAFETY: Final = (
    "(a.escalation->>'event_class' = 'alarm' OR a.explanation->'parameters'->>'detector' = 'event') "
    "AND a.episode_id IS NULL"
)
_SCOPE = "p.municipality_id = %(town)s AND (%(teams)s::uuid[] IS NULL OR p.care_team_id = ANY(%(teams)s::uuid[]))"
_ALARMS = (
    "SELECT a.id, a.patient_id, a.rule, a.severity, a.state, a.explanation, a.opened_at, a.acknowledged_at, "  # noqa: S608
    f"a.repeats, a.last_input_at, {call_started('a')} AS call_started_at, "
    "a.acknowledged_by, a.resolved_at, a.resolution, p.display_name, p.phone AS patient_phone, h.address, "
    "h.access_notes, h.phone AS home_phone, o.outcome, o.at AS outcome_at, o.recorded_by AS outcome_by "
    "FROM alerts a JOIN patients p ON p.id = a.patient_id LEFT JOIN homes h ON h.id = p.home_id "
    "LEFT JOIN LATERAL (SELECT outcome, at, recorded_by FROM alert_outcomes WHERE alert_id = a.id "
    "ORDER BY at DESC, id DESC LIMIT 1) o ON true "
    f"WHERE {_SCOPE} AND {SAFETY} AND (a.resolved_at IS NULL OR a.opened_at > %(since)s) "
    "ORDER BY a.opened_at DESC, a.id DESC LIMIT %(limit)s"
)
_SHARE = (
    f"SELECT count(*) FILTER (WHERE a.acknowledged_at - {call_started('a')} <= %(target)s) AS in_time, "  # noqa: S608
    f"count(*) FILTER (WHERE a.acknowledged_at IS NOT NULL OR %(now)s - {call_started('a')} > %(target)s) AS counted "
    f"FROM alerts a JOIN patients p ON p.id = a.patient_id WHERE {_SCOPE} AND {SAFETY} AND a.opened_at > %(since)s"
)


class SafetyAlarm(AlertSummary):
    """One safety alarm as the response centre acts on it, with the next of kin in call order; times in UTC."""

    # When the current call came in: the opening, or the press that made a taken alarm a new call (its clock and
    # time to take count from there: alerts.escalation.chain).
    received_at: datetime
    # Raised again while open (another press): how often, and the newest (cloud/evaluation: the `repeated` event).
    pressed_again: int
    last_pressed_at: datetime | None
    taken_at: datetime | None
    taken_by: str | None
    taken_after_s: float | None
    outcome: str | None
    outcome_text: str | None
    outcome_at: datetime | None
    outcome_by: str | None
    resolved_at: datetime | None
    resolution: str | None
    address: str | None
    access_notes: str | None
    home_phone: str | None
    patient_phone: str | None
    contacts: list[Contact]  # in call order


class AnswerShare(BaseModel):
    """Alarms taken within the answer target over the window (`share` is None when none counted)."""

    window_hours: float
    target_s: float
    taken_in_time: int
    counted: int
    share: float | None


class ResponseCentre(BaseModel):
    """The screen: the alarms, newest first, and the answer share; `now` is the server's clock."""

    now: datetime
    alarms: list[SafetyAlarm]
    answered: AnswerShare


def _alarm(
    row: dict[str, Any], text: AlertText, people: dict[UUID, str], contacts: list[dict[str, Any]], reader: Reader
) -> SafetyAlarm:
    taken = row["acknowledged_at"]
    return SafetyAlarm(
        **summary_fields(row, text),
        received_at=row["call_started_at"],
        pressed_again=row["repeats"],
        last_pressed_at=row["last_input_at"] if row["repeats"] else None,
        taken_at=taken,
        taken_by=people.get(row["acknowledged_by"]),
        taken_after_s=None if taken is None else (taken - row["call_started_at"]).total_seconds(),
        outcome=row["outcome"],
        outcome_text=outcome_text(row["outcome"], reader),
        outcome_at=row["outcome_at"],
        outcome_by=people.get(row["outcome_by"]),
        resolved_at=row["resolved_at"],
        resolution=row["resolution"],
        address=row["address"],
        access_notes=row["access_notes"],
        home_phone=row["home_phone"],
        patient_phone=row["patient_phone"],
        contacts=[Contact(**contact) for contact in contacts],
    )


async def answer_share(
    conn: AsyncConnection[Any], municipality_id: UUID, team_ids: list[UUID] | None, now: datetime
) -> AnswerShare:
    """The share of safety alarms received since `now - RECENT` that were taken within `ANSWER_TARGET`."""
    params = {"town": municipality_id, "teams": team_ids, "since": now - RECENT, "now": now, "target": ANSWER_TARGET}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_SHARE, params)
    row = await cur.fetchone()
    assert row is not None  # an aggregate always answers
    counted, in_time = int(row["counted"]), int(row["in_time"])
    return AnswerShare(
        window_hours=RECENT.total_seconds() / 3600,
        target_s=ANSWER_TARGET.total_seconds(),
        taken_in_time=in_time,
        counted=counted,
        share=in_time / counted if counted else None,
    )


async def screen(
    conn: AsyncConnection[Any],
    municipality_id: UUID,
    team_ids: list[UUID] | None,
    reader: Reader,
    now: datetime | None = None,
) -> ResponseCentre:
    """Open and recent safety alarms of the scope (a municipality, or some of its teams), newest first."""
    moment = now or datetime.now(UTC)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_ALARMS, {"town": municipality_id, "teams": team_ids, "since": moment - RECENT, "limit": LIMIT})
    rows = await cur.fetchall()
    texts = await describe_rows(conn, rows, reader)
    people = await staff_names(conn, municipality_id, [r[k] for r in rows for k in ("acknowledged_by", "outcome_by")])
    contacts = await contacts_of(conn, sorted({row["patient_id"] for row in rows}))
    alarms = [
        _alarm(row, text, people, contacts.get(row["patient_id"], []), reader)
        for row, text in zip(rows, texts, strict=True)
    ]
    answered = await answer_share(conn, municipality_id, team_ids, moment)
    return ResponseCentre(now=moment, alarms=alarms, answered=answered)
