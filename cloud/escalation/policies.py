"""Which policy an alert gets, copied onto it in the transaction that opens it.

A municipality's stored document (`escalation_policies`) wins over the shipped default. The copy on the alert
(`alerts.escalation`) is what the engine follows afterwards, so editing a policy never rewrites a chain that
is already running.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from alerts.escalation import PolicyDocument, select
from cloud.escalation.configuration import policy_in_effect
from cloud.escalation.timeline import observe_ingest
from cloud.evaluation.protocols import protocol_for
from cloud.notify.in_app import push

ESCALATION_CHANNEL = "tryggheim_escalation"
INTERNAL_PREFIX = "notify."  # rules of alerts the platform raises about itself (a dead-lettered message)


async def document_for(conn: AsyncConnection[Any], municipality_id: UUID) -> PolicyDocument:
    """The municipality's policy document, or the shipped default."""
    document, _own = await policy_in_effect(conn, municipality_id)
    return document


async def event_class(conn: AsyncConnection[Any], patient_id: UUID, rule: str, alert_class: str) -> str:
    """`alarm` for the patient's alarm-class rules, `internal` for the platform's own, else the alert class."""
    if rule.startswith(INTERNAL_PREFIX):
        return "internal"
    found = (await protocol_for(conn, patient_id)).by_id().get(rule)
    return "alarm" if found is not None and found.alarm else alert_class


async def _copy_policy(conn: AsyncConnection[Any], alert_id: int) -> tuple[UUID, Any] | None:
    """Select the policy for the alert's class and current severity and copy it onto the alert."""
    row = await (
        await conn.execute(
            "SELECT a.patient_id, a.rule, a.alert_class, a.severity, a.last_input_at, p.municipality_id "
            "FROM alerts a JOIN patients p ON p.id = a.patient_id WHERE a.id = %s",
            (alert_id,),
        )
    ).fetchone()
    if row is None:
        return None
    patient_id, rule, alert_class, severity, last_input_at, municipality_id = row
    category = await event_class(conn, patient_id, rule, alert_class)
    policy = select((await document_for(conn, municipality_id)).policies, category, severity)
    copy = {"event_class": category, "policy": policy.model_dump(mode="json")}
    await conn.execute("UPDATE alerts SET escalation = %s WHERE id = %s", (Jsonb(copy), alert_id))
    return patient_id, last_input_at


async def severity_raised(conn: AsyncConnection[Any], alert_id: int) -> None:
    """A yellow alert turned red: it follows the red policy from now on (steps already written keep their
    numbers, so none is sent twice) and the engine looks at it at once."""
    if await _copy_policy(conn, alert_id) is None:
        return
    await conn.execute(
        "UPDATE alerts SET next_due_at = now() WHERE id = %s AND resolved_at IS NULL AND escalation IS NOT NULL",
        (alert_id,),
    )
    await conn.execute("SELECT pg_notify(%s, %s)", (ESCALATION_CHANNEL, str(alert_id)))
    await push(conn, "severity_changed", alert_id)


async def attach(conn: AsyncConnection[Any], alert_id: int) -> None:
    """Copy the policy onto a newly opened alert, record where its input came from, and wake the engine.

    Runs in the caller's transaction (the one that opened the alert): the NOTIFY is delivered on commit, so
    a safety alarm's first step starts at once on whichever process listens, not on the next tick.
    """
    copied = await _copy_policy(conn, alert_id)
    if copied is None:
        return
    patient_id, last_input_at = copied
    await conn.execute("UPDATE alerts SET next_step = 0, next_due_at = opened_at WHERE id = %s", (alert_id,))
    if last_input_at is not None:
        # Provenance of the triggering reading, for the end-to-end latency histograms.
        await conn.execute(
            "UPDATE alerts a SET device_event_at = o.measured_at, gateway_received_at = o.received_at, "
            "cloud_committed_at = o.stored_at FROM (SELECT measured_at, received_at, stored_at FROM observations "
            "WHERE patient_id = %s AND t = %s ORDER BY stored_at LIMIT 1) o WHERE a.id = %s",
            (patient_id, last_input_at, alert_id),
        )
    await conn.execute("SELECT pg_notify(%s, %s)", (ESCALATION_CHANNEL, str(alert_id)))
    await push(conn, "opened", alert_id)
    await observe_ingest(conn, alert_id)
