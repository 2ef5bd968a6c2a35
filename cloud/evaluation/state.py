"""The patient's alert state in the database: read it as `PatientState`, apply transitions to it.

`apply` hands each transition to the alert store, which does in SQL what `PatientState.apply` does in memory
and logs every transition (suppressed ones and detector failures included) with its explanation. An alert
that opens, or turns red, is handed to escalation with its event class, which this side knows from the
protocol it evaluated. A request to measure again is only logged: the log is where `load_state` finds it
again (so the patient is asked once per doubtful reading) and where the patient's and the gateway's views
read it (cloud/evaluation/remeasure.py); the queue sets the rule's second look at the end of its wait. The
caller holds the patient's evaluation lock and the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.evaluate import PatientState
from alerts.lifecycle import Event, Transition
from alerts.protocols.model import Protocol
from alerts.suppression import Pause, Silence
from cloud.alert_store import history, store, suppression
from cloud.alert_store.records import at, seconds
from cloud.escalation import policies as escalation

log = logging.getLogger(__name__)
# A rule waits at most a day for a new measurement (alerts.thresholds), so older requests no longer matter.
REMEASURE_MEMORY_S = 86_400


async def load_state(conn: AsyncConnection[Any], patient_id: UUID, now: float) -> PatientState:
    """Open alerts, what each rule has handled, active silences, the pause still to be reminded of, and the
    doubtful readings a new measurement was already asked for."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT rule, until, reason, set_by FROM alert_silences WHERE patient_id = %s AND until > %s",
            (patient_id, at(now)),
        )
        silences = tuple(
            Silence(rule=r["rule"], until=r["until"].timestamp(), reason=r["reason"], set_by=str(r["set_by"]))
            for r in await cur.fetchall()
        )
        await cur.execute(
            "SELECT starts_at, until, reason FROM patient_pauses WHERE patient_id = %s AND reminded_at IS NULL "
            "AND starts_at <= %s ORDER BY starts_at DESC, id DESC LIMIT 1",
            (patient_id, at(now)),
        )
        found = await cur.fetchone()
    pause = None if found is None else Pause(found["starts_at"].timestamp(), seconds(found["until"]), found["reason"])
    return PatientState(
        open_alerts=await store.open_alerts(conn, patient_id),
        handled_until=await store.handled_until(conn, patient_id),
        silences=silences,
        pause=pause,
        remeasure_requested=await history.remeasure_requested(
            conn, patient_id, datetime.fromtimestamp(now - REMEASURE_MEMORY_S, UTC)
        ),
    )


def event_class(protocol: Protocol, rule: str, alert_class: str) -> str:
    """`alarm` for the protocol's alarm-class rules, else the alert class: what escalation selects a policy by."""
    found = protocol.by_id().get(rule)
    return "alarm" if found is not None and found.alarm else alert_class


async def apply(
    conn: AsyncConnection[Any], patient_id: UUID, protocol: Protocol, transitions: Iterable[Transition]
) -> None:
    """Apply the transitions as `PatientState.apply` does, logging each one, and start or re-aim escalation."""
    for t in transitions:
        if t.event is Event.PAUSE_ENDED:
            await suppression.mark_pauses_reminded(conn, patient_id, datetime.fromtimestamp(t.at, UTC))
        elif t.event is Event.DETECTOR_FAILED:
            log.warning("detector failed", extra={"patient_id": str(patient_id), "rule": t.rule, "error": t.message})
        alert_id = await store.apply(conn, patient_id, t)
        if alert_id is None:
            continue
        # Only what notifies escalates: a rule's trigger that is evidence of an episode does not, its episode does.
        if t.event is Event.TRIGGERED and t.notify:
            await escalation.attach(conn, alert_id, event_class(protocol, t.rule, t.alert_class))
        elif t.event is Event.SEVERITY_CHANGED and t.notify:
            await escalation.severity_raised(conn, alert_id, event_class(protocol, t.rule, t.alert_class))
        elif t.event is Event.EVIDENCE_ADDED:
            await escalation.evidence_added(conn, alert_id)
        elif t.event is Event.REPEATED and t.notify and event_class(protocol, t.rule, t.alert_class) == "alarm":
            await escalation.alarm_repeated(conn, alert_id, t.at)
