"""One escalation step at a time, under the alert's row lock, safe on any number of cloud processes.

`step_next` locks the most overdue open alert (`FOR UPDATE SKIP LOCKED`: another process takes the next one),
rebuilds its chain state (acknowledged? resolved? snoozed? patient paused?), asks `alerts.escalation` what to
do at `now`, and in the same transaction writes the step's notification (unique per alert and step) and the
time the chain must next be looked at. A process killed mid-step rolls back; the alert is due again and the
next tick anywhere runs the step once. The clock is a parameter: tests inject it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from alerts.escalation import ChainState, Fire, PolicySpec, Stop, Wait, next_action, stored_step
from cloud import telemetry
from cloud.alert_store import chain
from cloud.escalation.service_hours import on_duty_now
from cloud.notify.in_app import push

OUTBOX_CHANNEL = "tryggheim_outbox"
PAUSE_RECHECK_S = 15 * 60  # a paused patient's alert is looked at again this often
PAUSABLE = frozenset({"clinical"})  # a pause holds vitals escalations; alarms and equipment keep going


@dataclass(frozen=True)
class StepResult:
    """What one call did for one alert."""

    alert_id: int
    action: Fire | Wait | Stop


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def _held_until(conn: AsyncConnection[Any], row: dict[str, Any], now: float) -> float | None:
    held = _ts(row["snoozed_until"])
    if row["escalation"]["event_class"] in PAUSABLE:
        pause = await (
            await conn.execute(
                "SELECT until FROM patient_pauses WHERE patient_id = %s AND starts_at <= %s "
                "AND (until IS NULL OR until > %s) ORDER BY starts_at DESC LIMIT 1",
                (row["patient_id"], _dt(now), _dt(now)),
            )
        ).fetchone()
        if pause is not None:
            until = _ts(pause[0]) or now + PAUSE_RECHECK_S
            held = max(held or until, until)
    return held


def chain_state(row: dict[str, Any], held_until: float | None = None) -> ChainState:
    """The chain state of an alert row (columns as selected by `_LOCK`). An alert that waits for service
    hours starts its chain at the opening its route names, so its waits count from then; a safety alarm's
    later round (pressed again) from the press that started it."""
    waits_for = (row["escalation"].get("route") or {}).get("deliver_at")
    round_from = row["escalation"].get("round_started_at")
    return ChainState(
        opened_at=max(row["opened_at"].timestamp(), waits_for or 0.0, round_from or 0.0),
        next_step=row["next_step"],
        acknowledged_at=_ts(row["acknowledged_at"]),
        resolved=row["resolved_at"] is not None,
        held_until=held_until,
    )


_COLUMNS = "id, patient_id, escalation, next_step, opened_at, acknowledged_at, resolved_at, snoozed_until"


async def _fire(conn: AsyncConnection[Any], row: dict[str, Any], fire: Fire, now: float, process: str) -> None:
    alert_id, in_app = row["id"], fire.channel == "in_app"
    step = stored_step(row["escalation"].get("round", 1), fire.step)
    staff = await on_duty_now(conn, row["patient_id"], fire.target, now)
    await conn.execute(
        "INSERT INTO notifications (alert_id, step, kind, channel, target, idempotency_key, due_at, created_at, "
        "status, next_attempt_at, sent_at, sent_by, receipt, on_duty) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s, %s, %s, %s) ON CONFLICT (alert_id, step) DO NOTHING",
        (alert_id, step, fire.kind.value, fire.channel, fire.target, uuid.uuid4(), _dt(fire.due_at), _dt(now),
         "sent" if in_app else "pending", _dt(now), _dt(now) if in_app else None, process if in_app else None,
         json.dumps({"detail": "shown in the worklist"}) if in_app else None, staff),
    )  # fmt: skip
    if in_app:
        await first_notified(conn, alert_id, now)
        await push(conn, "escalated" if fire.step else "notified", alert_id)
    else:
        await conn.execute("SELECT pg_notify(%s, %s)", (OUTBOX_CHANNEL, str(alert_id)))


async def first_notified(conn: AsyncConnection[Any], alert_id: int, now: float) -> None:
    """Record the alert's first notification time once, and observe opened -> first notification."""
    first = await chain.first_notified(conn, alert_id, _dt(now))
    if first is not None:
        opened_at, event_class = first
        telemetry.ALERT_STAGE_SECONDS.labels("first_notification", event_class or "unknown").observe(
            max(0.0, now - opened_at.timestamp())
        )


async def step_next(pool: AsyncConnectionPool, now: float, minute_s: float, process: str) -> StepResult | None:
    """Run the chain of the most overdue alert once; None when nothing is due at `now`."""
    now = _dt(now).timestamp()  # the database keeps microseconds: compare at the same precision
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE resolved_at IS NULL AND next_due_at <= %s "  # noqa: S608
            "ORDER BY next_due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
            (_dt(now),),
        )
        found = await cur.fetchone()
        if found is None:
            return None
        row = dict(zip([d.name for d in cur.description or []], found, strict=True))
        policy = PolicySpec.model_validate(row["escalation"]["policy"])
        action = next_action(policy, chain_state(row, await _held_until(conn, row, now)), now, minute_s)
        next_step, next_due = row["next_step"], None
        if isinstance(action, Fire):
            await _fire(conn, row, action, now, process)
            next_step = action.step + 1
            after = next_action(policy, chain_state({**row, "next_step": next_step}), now, minute_s)
            next_due = after.until if isinstance(after, Wait) else (now if isinstance(after, Fire) else None)
        elif isinstance(action, Wait):
            next_due = max(action.until, now + 0.001)  # never due again at this same instant
        await chain.advance(conn, row["id"], next_step, None if next_due is None else _dt(next_due))
        return StepResult(row["id"], action)


async def earliest_due(pool: AsyncConnectionPool) -> float | None:
    """When the soonest open chain is next due (None: none waits on the clock), for the runner's timer."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT min(next_due_at) FROM alerts WHERE resolved_at IS NULL AND next_due_at IS NOT NULL"
            )
        ).fetchone()
    return None if row is None or row[0] is None else float(row[0].timestamp())


async def plan(conn: AsyncConnection[Any], now: float, minute_s: float, limit: int = 200) -> list[dict[str, Any]]:
    """What each open escalating alert does next and why (for `tryggheim alerts escalations`); reads only."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS}, rule, severity, next_due_at FROM alerts WHERE resolved_at IS NULL "  # noqa: S608
        "AND escalation IS NOT NULL ORDER BY next_due_at NULLS LAST, id LIMIT %s",
        (limit,),
    )
    names = [d.name for d in cur.description or []]
    out = []
    for found in await cur.fetchall():
        row = dict(zip(names, found, strict=True))
        policy = PolicySpec.model_validate(row["escalation"]["policy"])
        action = next_action(policy, chain_state(row, await _held_until(conn, row, now)), now, minute_s)
        entry: dict[str, Any] = {
            "alert_id": row["id"],
            "rule": row["rule"],
            "severity": row["severity"],
            "event_class": row["escalation"]["event_class"],
            "policy": policy.name,
            "round": row["escalation"].get("round", 1),
            "next_step": row["next_step"],
        }
        if isinstance(action, Fire):
            entry |= {"status": "due", "step": action.step, "channel": action.channel, "target": action.target,
                      "due_at": _dt(action.due_at).isoformat(), "why": action.reason}  # fmt: skip
        elif isinstance(action, Wait):
            entry |= {"status": "waiting", "until": _dt(action.until).isoformat(), "why": action.reason}
        else:
            entry |= {"status": "stopped", "why": action.reason}
        out.append(entry)
    return out
