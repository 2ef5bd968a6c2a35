"""A person's actions on an alert: acknowledge, snooze, resolve, comment and record an outcome. The JSON API and
the web forms call these, so both check the same things, write through the same alert store and push the
same live events. Each action is one transaction; a refusal (`ActionRefusedError`) leaves it before anything is
written. The caller has applied the access policy and passes the actor with its audit record's id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from cloud.alert_store import store
from cloud.alert_store.records import Actor
from cloud.escalation.timeline import after_action, observe
from cloud.worklist.models import AlertOut
from common.i18n import N_

CareOutcome = Literal["resolved_by_phone", "visit_dispatched", "on_site", "done", "false_alarm"]
OUTCOMES: tuple[str, ...] = get_args(CareOutcome)
# Outcomes that end the alert: the nurse records what happened and closes it in one step.
CLOSING: frozenset[str] = frozenset({"resolved_by_phone", "done", "false_alarm"})
MAX_SNOOZE_MINUTES = 7 * 24 * 60
# Clocks differ a little between a phone, a browser and the server: an outcome may be stamped this far off.
CLOCK_SLACK = timedelta(minutes=5)


class ActionRefusedError(Exception):
    """The action cannot be taken; `status` is the HTTP status it maps to, `field` the input at fault, and
    `message` a catalogue source string that each answer translates for its reader."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def _answer(row: dict[str, Any] | None) -> AlertOut:
    if row is None:
        raise ActionRefusedError(409, N_("The alert is already resolved."))
    return AlertOut(**{name: row[name] for name in AlertOut.model_fields})


async def acknowledge(conn: AsyncConnection[Any], alert_id: int, actor: Actor) -> AlertOut:
    """Someone has seen the alert and takes it; escalation stops climbing."""
    async with conn.transaction():
        alert = _answer(await store.acknowledge(conn, alert_id, actor))
        await after_action(conn, alert.id, "acknowledged")
    return alert


async def snooze(conn: AsyncConnection[Any], alert_id: int, actor: Actor, minutes: int) -> AlertOut:
    """Hold re-notification of an open alert for `minutes` (1 minute to 7 days); it stays open."""
    if not 1 <= minutes <= MAX_SNOOZE_MINUTES:
        raise ActionRefusedError(422, N_("A snooze lasts from 1 minute to 7 days."), "minutes")
    async with conn.transaction():
        alert = _answer(await store.snooze(conn, alert_id, actor, minutes))
        await after_action(conn, alert.id, "snoozed")
    return alert


async def resolve(conn: AsyncConnection[Any], alert_id: int, actor: Actor, resolution: str) -> AlertOut:
    """Close the alert with a resolution."""
    async with conn.transaction():
        alert = _answer(await store.resolve(conn, alert_id, actor, resolution))
        await after_action(conn, alert.id, "resolved")
    return alert


async def comment(conn: AsyncConnection[Any], alert_id: int, actor: Actor, body: str) -> int:
    """Add a comment (open or resolved alerts alike); returns its id."""
    async with conn.transaction():
        comment_id = await store.comment(conn, alert_id, actor, body.strip())
        await after_action(conn, alert_id, "commented")
    return comment_id


async def record_outcome(
    conn: AsyncConnection[Any], alert_id: int, actor: Actor, outcome: CareOutcome, at: datetime | None, note: str | None
) -> int:
    """Record what was done and when (default now); a closing outcome also resolves the alert. Returns the
    outcome's id."""
    at = at or datetime.now(UTC)
    if at > datetime.now(UTC) + CLOCK_SLACK:
        raise ActionRefusedError(422, N_("An outcome cannot be in the future."), "at")
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT opened_at, resolved_at FROM alerts WHERE id = %s FOR UPDATE", (alert_id,))
        alert = await cur.fetchone()
        assert alert is not None  # the access policy has checked that it exists
        if at < alert["opened_at"] - CLOCK_SLACK:
            raise ActionRefusedError(422, N_("An outcome cannot be before the alert opened."), "at")
        if alert["resolved_at"] is not None and outcome in CLOSING:
            raise ActionRefusedError(409, N_("The alert is already resolved."))
        outcome_id = await store.outcome(conn, alert_id, actor, outcome, at, note)
        if outcome == "on_site":
            await observe(conn, alert_id, "on_site_at", "on_site")
        if outcome in CLOSING:
            await store.resolve(conn, alert_id, actor, outcome, at)
        await after_action(conn, alert_id, "resolved" if outcome in CLOSING else "outcome")
    return outcome_id
