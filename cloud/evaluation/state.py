"""The alert state in the database: read as `PatientState` for many patients at once, transitions applied to it.

`apply` hands each transition to the alert store, which does in SQL what `PatientState.apply` does in memory
and logs every transition (suppressed ones and detector failures included) with its explanation. An alert
that opens, or turns red, is handed to escalation with its event class, which this side knows from the
protocol it evaluated. A request to measure again is only logged: the log is where `state_reads` finds it
again (so the patient is asked once per doubtful reading) and where the patient's and the gateway's views
read it (cloud/evaluation/remeasure.py); the queue sets the rule's second look at the end of its wait. The
caller holds the patient's evaluation lock and the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from alerts.evaluate import PatientState
from alerts.lifecycle import Event, Transition
from alerts.protocols.model import Protocol
from alerts.suppression import Pause, Silence
from cloud.alert_store import store, suppression
from cloud.alert_store.records import OPEN_COLUMNS, at, open_alert, seconds
from cloud.db.batch import Query
from cloud.escalation import policies as escalation

log = logging.getLogger(__name__)
# A rule waits at most a day for a new measurement (alerts.thresholds), so older requests no longer matter.
REMEASURE_MEMORY_S = 86_400


# Each reads the alert state of many patients at once (`= ANY`, or `unnest` where each patient has their own
# moment): the silences still running, the newest pause not yet reminded of, the open alerts, what each rule
# has handled, and the doubtful readings a new measurement was already asked for.
_PATIENTS_AT = "unnest(%b::uuid[], %b::timestamptz[]) AS x(patient_id, at)"
_SILENCES = (
    "SELECT s.patient_id, s.rule, s.until, s.reason, s.set_by "  # noqa: S608 - fixed text
    f"FROM {_PATIENTS_AT} JOIN alert_silences s ON s.patient_id = x.patient_id AND s.until > x.at"
)
_PAUSES = (
    "SELECT DISTINCT ON (x.patient_id) x.patient_id, p.starts_at, p.until, p.reason "  # noqa: S608 - fixed text
    f"FROM {_PATIENTS_AT} JOIN patient_pauses p ON p.patient_id = x.patient_id AND p.reminded_at IS NULL "
    "AND p.starts_at <= x.at ORDER BY x.patient_id, p.starts_at DESC, p.id DESC"
)
_OPEN = f"SELECT {OPEN_COLUMNS} FROM alerts WHERE patient_id = ANY(%b::uuid[]) AND resolved_at IS NULL"  # noqa: S608
_HANDLED = "SELECT patient_id, rule, handled_until FROM alert_handled WHERE patient_id = ANY(%b::uuid[])"
_REMEASURED = (
    "SELECT x.patient_id, t.rule, max(t.last_input_at) AS reading_at "  # noqa: S608 - fixed text
    f"FROM {_PATIENTS_AT} JOIN alert_transitions t ON t.patient_id = x.patient_id AND t.event = %s "
    "AND t.last_input_at > x.at GROUP BY x.patient_id, t.rule"
)


def state_reads(nows: Mapping[UUID, float]) -> list[Query]:
    """The reads of `states_from`, for each patient as of their own moment (Unix seconds)."""
    ids = list(nows)
    moments = [at(nows[p]) for p in ids]
    since = [datetime.fromtimestamp(nows[p] - REMEASURE_MEMORY_S, UTC) for p in ids]
    return [
        Query(_SILENCES, (ids, moments)),
        Query(_PAUSES, (ids, moments)),
        Query(_OPEN, (ids,)),
        Query(_HANDLED, (ids,)),
        Query(_REMEASURED, (ids, since, Event.REMEASURE_REQUESTED.value)),
    ]


def states_from(ids: Iterable[UUID], answers: list[list[dict[str, Any]]]) -> dict[UUID, PatientState]:
    """Each patient's `PatientState` from the answers to `state_reads`, in their order."""
    silences, pauses, opened, handled, remeasured = answers
    by: dict[UUID, dict[str, Any]] = {
        p: {"silences": [], "pause": None, "open": {}, "handled": {}, "remeasured": {}} for p in ids
    }
    for r in silences:
        silence = Silence(rule=r["rule"], until=r["until"].timestamp(), reason=r["reason"], set_by=str(r["set_by"]))
        by[r["patient_id"]]["silences"].append(silence)
    for r in pauses:
        by[r["patient_id"]]["pause"] = Pause(r["starts_at"].timestamp(), seconds(r["until"]), r["reason"])
    for r in opened:
        by[r["patient_id"]]["open"][r["rule"]] = open_alert(r)
    for r in handled:
        by[r["patient_id"]]["handled"][r["rule"]] = r["handled_until"].timestamp()
    for r in remeasured:
        by[r["patient_id"]]["remeasured"][r["rule"]] = r["reading_at"].timestamp()
    return {
        p: PatientState(
            open_alerts=b["open"],
            handled_until=b["handled"],
            silences=tuple(b["silences"]),
            pause=b["pause"],
            remeasure_requested=b["remeasured"],
        )
        for p, b in by.items()
    }


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
