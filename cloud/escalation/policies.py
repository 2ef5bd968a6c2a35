"""Which policy an alert gets, copied onto it in the transaction that opens it.

A municipality's stored document (`escalation_policies`) wins over the shipped default. The copy on the alert
(`alerts.escalation`, written by `cloud.alert_store.chain`) is what the engine follows afterwards, so editing
a policy never rewrites a chain that is already running. The caller names the event class (`alarm` for the
patient's alarm-class rules, `internal` for the platform's own alerts, else the alert class): detection holds
the protocol that knows it, so nothing here loads a protocol again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.escalation import ChainState, PolicyDocument, PolicySpec, calls_again, select
from alerts.escalation.routing import retarget
from cloud.alert_store import chain, store
from cloud.escalation.configuration import policy_in_effect
from cloud.escalation.service_hours import route_at
from cloud.escalation.timeline import observe_ingest
from cloud.notify.in_app import push

ESCALATION_CHANNEL = "tryggheim_escalation"


async def document_for(conn: AsyncConnection[Any], municipality_id: UUID) -> PolicyDocument:
    """The municipality's policy document, or the shipped default."""
    document, _own = await policy_in_effect(conn, municipality_id)
    return document


async def _copy_policy(conn: AsyncConnection[Any], alert_id: int, event_class: str, *, now: bool = False) -> bool:
    """Select the policy for the event class and the alert's current severity, route it by the municipality's
    service hours (`cloud.escalation.service_hours`) at its opening (or `now`, when its severity rose) and copy
    both onto the alert."""
    cur = conn.cursor(row_factory=dict_row)
    row = await (
        await cur.execute(
            "SELECT a.severity, CASE WHEN %s THEN now() ELSE a.opened_at END AS at, "
            "a.explanation->'parameters'->>'detector' AS detector, "
            "p.municipality_id, t.name AS team FROM alerts a JOIN patients p ON p.id = a.patient_id "
            "LEFT JOIN care_teams t ON t.id = p.care_team_id WHERE a.id = %s",
            (now, alert_id),
        )
    ).fetchone()
    if row is None:
        return False
    policy = select((await document_for(conn, row["municipality_id"])).policies, event_class, row["severity"])
    chosen = await route_at(
        conn, row["municipality_id"], event_class=event_class, severity=row["severity"], detector=row["detector"],
        team=row["team"], t=row["at"].timestamp(),
    )  # fmt: skip
    if chosen is not None:
        policy = retarget(policy, chosen)
    route = None if chosen is None else chosen.as_json()
    await chain.set_policy(conn, alert_id, event_class, policy.model_dump(mode="json"), route)
    return True


async def severity_raised(conn: AsyncConnection[Any], alert_id: int, event_class: str) -> None:
    """A yellow alert turned red: it follows the red policy from now on (steps already written keep their
    numbers, so none is sent twice) and the engine looks at it at once."""
    if not await _copy_policy(conn, alert_id, event_class, now=True):
        return
    await chain.due_now(conn, alert_id)
    await conn.execute("SELECT pg_notify(%s, %s)", (ESCALATION_CHANNEL, str(alert_id)))
    await push(conn, "severity_changed", alert_id)


async def attach(conn: AsyncConnection[Any], alert_id: int, event_class: str) -> None:
    """Copy the policy onto a newly opened alert, record where its input came from, and wake the engine.

    Runs in the caller's transaction (the one that opened the alert): the NOTIFY is delivered on commit, so
    a safety alarm's first step starts at once on whichever process listens, not on the next tick.
    """
    if not await _copy_policy(conn, alert_id, event_class):
        return
    await chain.start(conn, alert_id)
    await conn.execute("SELECT pg_notify(%s, %s)", (ESCALATION_CHANNEL, str(alert_id)))
    await push(conn, "opened", alert_id)
    await observe_ingest(conn, alert_id)


async def alarm_repeated(conn: AsyncConnection[Any], alert_id: int, at: float) -> bool:
    """The alarm was raised again while its alert is open (another press): the live screens fetch it at once.
    If its chain had gone quiet (a person had taken it, or every step was sent without anyone taking it), the
    press is a new call: the alarm waits to be taken again and its chain starts a new round from the first step
    at `at`, the engine woken on commit (alerts.escalation.chain). Returns whether a round started."""
    cur = conn.cursor(row_factory=dict_row)
    row = await (
        await cur.execute(
            "SELECT escalation, next_step, acknowledged_at, resolved_at FROM alerts WHERE id = %s FOR UPDATE",
            (alert_id,),
        )
    ).fetchone()
    called = row is not None and row["escalation"] is not None and await _call_again(conn, alert_id, row, at)
    await push(conn, "repeated", alert_id)  # after the round started, so the screens read its state
    return called


async def _call_again(conn: AsyncConnection[Any], alert_id: int, row: dict[str, Any], at: float) -> bool:
    quiet = ChainState(
        opened_at=at, next_step=row["next_step"] or 0, resolved=row["resolved_at"] is not None,
        acknowledged_at=None if row["acknowledged_at"] is None else row["acknowledged_at"].timestamp(),
    )  # fmt: skip
    if not calls_again(PolicySpec.model_validate(row["escalation"]["policy"]), quiet):
        return False
    await store.called_again(conn, alert_id)
    await chain.new_round(conn, alert_id, datetime.fromtimestamp(at, UTC))
    await conn.execute("SELECT pg_notify(%s, %s)", (ESCALATION_CHANNEL, str(alert_id)))
    return True


async def evidence_added(conn: AsyncConnection[Any], alert_id: int) -> None:
    """Another rule's trigger joined the open worsening episode: its chain goes on as it is (an episode is
    escalated once), and the live screens fetch its new words."""
    await push(conn, "evidence_added", alert_id)
