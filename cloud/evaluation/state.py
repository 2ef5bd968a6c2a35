"""The patient's alert state in the database: read it as `PatientState`, apply transitions to it.

`apply` does in SQL exactly what `PatientState.apply` does in memory, and also appends every transition
(suppressed ones and detector failures included) to the `alert_transitions` log with its explanation.
The caller holds the patient's evaluation lock and the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from alerts.evaluate import PatientState
from alerts.explain import Level
from alerts.lifecycle import AlertState, Event, OpenAlert, Transition
from alerts.suppression import Pause, Silence
from cloud.escalation import policies as escalation

log = logging.getLogger(__name__)


def at(seconds: float | None) -> datetime | None:
    """Unix seconds as an aware UTC datetime (None stays None)."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


_OPEN_COLUMNS = (
    "rule, alert_class, severity, opened_at, auto_resolve, state, repeats, last_value, last_input_at, "
    "updated_at, snoozed_until"
)


async def load_state(conn: AsyncConnection[Any], patient_id: UUID, now: float) -> PatientState:
    """Open alerts, what each rule has handled, active silences and the pause still to be reminded of."""
    open_alerts = {}
    for rule, cls, severity, opened, auto, state, repeats, value, last_input, updated, snoozed in await (
        await conn.execute(
            f"SELECT {_OPEN_COLUMNS} FROM alerts WHERE patient_id = %s AND resolved_at IS NULL",  # noqa: S608
            (patient_id,),
        )
    ).fetchall():
        open_alerts[rule] = OpenAlert(
            rule=rule,
            alert_class=cls,
            severity=Level(severity),
            opened_at=opened.timestamp(),
            auto_resolve=auto,
            state=AlertState(state),
            repeats=repeats,
            last_value=value,
            last_input_at=_seconds(last_input),
            updated_at=_seconds(updated),
            snoozed_until=_seconds(snoozed),
        )
    handled = {
        rule: until.timestamp()
        for rule, until in await (
            await conn.execute("SELECT rule, handled_until FROM alert_handled WHERE patient_id = %s", (patient_id,))
        ).fetchall()
    }
    silences = tuple(
        Silence(rule=rule, until=until.timestamp(), reason=reason, set_by=str(set_by))
        for rule, until, reason, set_by in await (
            await conn.execute(
                "SELECT rule, until, reason, set_by FROM alert_silences WHERE patient_id = %s AND until > %s",
                (patient_id, at(now)),
            )
        ).fetchall()
    )
    pause_row = await (
        await conn.execute(
            "SELECT starts_at, until, reason FROM patient_pauses WHERE patient_id = %s AND reminded_at IS NULL "
            "AND starts_at <= %s ORDER BY starts_at DESC, id DESC LIMIT 1",
            (patient_id, at(now)),
        )
    ).fetchone()
    pause = None if pause_row is None else Pause(pause_row[0].timestamp(), _seconds(pause_row[1]), pause_row[2])
    return PatientState(open_alerts=open_alerts, handled_until=handled, silences=silences, pause=pause)


async def _open(conn: AsyncConnection[Any], patient_id: UUID, t: Transition, alert: OpenAlert) -> int:
    row = await (
        await conn.execute(
            "INSERT INTO alerts (patient_id, rule, alert_class, severity, state, auto_resolve, opened_at, updated_at, "
            "last_input_at, repeats, message, last_value, explanation, snoozed_until) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                patient_id,
                t.rule,
                alert.alert_class,
                alert.severity.value,
                alert.state.value,
                alert.auto_resolve,
                at(alert.opened_at),
                at(alert.updated_at or t.at),
                at(alert.last_input_at),
                alert.repeats,
                t.message,
                Jsonb(dict(alert.last_value)),
                Jsonb(dict(t.explanation)),
                at(alert.snoozed_until),
            ),
        )
    ).fetchone()
    assert row is not None
    return int(row[0])


async def _update(conn: AsyncConnection[Any], patient_id: UUID, t: Transition, alert: OpenAlert) -> int | None:
    row = await (
        await conn.execute(
            "UPDATE alerts SET severity = %s, repeats = %s, last_value = %s, last_input_at = %s, updated_at = %s, "
            "message = %s WHERE patient_id = %s AND rule = %s AND resolved_at IS NULL RETURNING id",
            (
                alert.severity.value,
                alert.repeats,
                Jsonb(dict(alert.last_value)),
                at(alert.last_input_at),
                at(alert.updated_at or t.at),
                t.message,
                patient_id,
                t.rule,
            ),
        )
    ).fetchone()
    return None if row is None else int(row[0])


async def _close(conn: AsyncConnection[Any], patient_id: UUID, t: Transition) -> int | None:
    row = await (
        await conn.execute(
            "UPDATE alerts SET state = 'resolved', resolved_at = %s, updated_at = %s, resolution = %s "
            "WHERE patient_id = %s AND rule = %s AND resolved_at IS NULL RETURNING id",
            (at(t.at), at(t.at), "auto-resolved: the rule no longer triggers", patient_id, t.rule),
        )
    ).fetchone()
    if t.last_input_at is not None:
        await conn.execute(
            "INSERT INTO alert_handled (patient_id, rule, handled_until) VALUES (%s, %s, %s) ON CONFLICT "
            "(patient_id, rule) DO UPDATE SET handled_until = greatest(alert_handled.handled_until, "
            "EXCLUDED.handled_until)",
            (patient_id, t.rule, at(t.last_input_at)),
        )
    return None if row is None else int(row[0])


async def record(conn: AsyncConnection[Any], patient_id: UUID, alert_id: int | None, t: Transition) -> None:
    """Append one transition to the log, with its full explanation."""
    await conn.execute(
        "INSERT INTO alert_transitions (alert_id, patient_id, rule, event, alert_class, severity, at, notify, "
        "suppressed_by, last_input_at, message, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (alert_id, patient_id, t.rule, t.event.value, t.alert_class, t.severity.value, at(t.at), t.notify,
         None if t.suppressed_by is None else t.suppressed_by.value, at(t.last_input_at), t.message,
         Jsonb(t.to_json())),
    )  # fmt: skip


async def apply(conn: AsyncConnection[Any], patient_id: UUID, transitions: Iterable[Transition]) -> None:
    """Apply the transitions as `PatientState.apply` does, logging each one."""
    for t in transitions:
        alert_id: int | None = None
        if t.event is Event.PAUSE_ENDED:
            await conn.execute(
                "UPDATE patient_pauses SET reminded_at = %s WHERE patient_id = %s AND reminded_at IS NULL "
                "AND until <= %s",
                (at(t.at), patient_id, at(t.at)),
            )
        elif t.alert is not None:
            if t.event is Event.TRIGGERED:
                alert_id = await _open(conn, patient_id, t, t.alert)
                await escalation.attach(conn, alert_id)  # the policy is copied on as the alert opens
            else:
                alert_id = await _update(conn, patient_id, t, t.alert)
                if alert_id is not None and t.event is Event.SEVERITY_CHANGED:
                    await escalation.severity_raised(conn, alert_id)
        elif t.event in (Event.RESOLVED, Event.SUPPRESSED):
            alert_id = await _close(conn, patient_id, t)
        elif t.event is Event.DETECTOR_FAILED:
            log.warning("detector failed", extra={"patient_id": str(patient_id), "rule": t.rule, "error": t.message})
        await record(conn, patient_id, alert_id, t)
