"""The escalation columns of `alerts`, written for the escalation engine (which decides what they hold).

All functions run in the caller's transaction; the engine holds the row lock when it advances a chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb


def call_started(alias: str = "") -> str:
    """SQL for when the alert's current call began: its opening, or the press that started a safety alarm's
    later round (`new_round`). Time to take an alarm counts from there: the acknowledgement of a later round is
    the answer to that press, not to the first one."""
    prefix = f"{alias}." if alias else ""
    return f"greatest({prefix}opened_at, to_timestamp(({prefix}escalation->>'round_started_at')::float8))"


async def set_policy(
    conn: AsyncConnection[Any], alert_id: int, event_class: str, policy: dict[str, Any],
    route: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Copy the selected policy (and the event class it was selected for, and the route service hours chose)
    onto the alert: the chain follows this copy, so editing a policy never rewrites a running chain."""
    routed = {} if route is None else {"route": route}
    await conn.execute(
        "UPDATE alerts SET escalation = %s WHERE id = %s",
        (Jsonb({"event_class": event_class, "policy": policy, **routed}), alert_id),
    )


async def start(conn: AsyncConnection[Any], alert_id: int) -> None:
    """Start the chain at step 0, due when the alert opened, and record where its triggering reading came
    from (device, gateway and commit times) for the end-to-end latency histograms."""
    await conn.execute("UPDATE alerts SET next_step = 0, next_due_at = opened_at WHERE id = %s", (alert_id,))
    await conn.execute(
        "UPDATE alerts a SET device_event_at = o.measured_at, gateway_received_at = o.received_at, "
        "cloud_committed_at = o.stored_at FROM (SELECT measured_at, received_at, stored_at FROM observations "
        "WHERE (patient_id, t) = (SELECT patient_id, last_input_at FROM alerts WHERE id = %s) "
        "ORDER BY stored_at LIMIT 1) o WHERE a.id = %s",
        (alert_id, alert_id),
    )


async def new_round(conn: AsyncConnection[Any], alert_id: int, started_at: datetime) -> None:
    """Start the chain again from step 0, due at `started_at`, as the next round (a safety alarm pressed again
    after its chain went quiet: alerts.escalation.chain; the first round is 1)."""
    await conn.execute(
        "UPDATE alerts SET next_step = 0, next_due_at = %s, escalation = escalation || jsonb_build_object("
        "'round', coalesce((escalation->>'round')::int, 1) + 1, 'round_started_at', %s::float8) "
        "WHERE id = %s AND resolved_at IS NULL AND escalation IS NOT NULL",
        (started_at, started_at.timestamp(), alert_id),
    )


async def due_now(conn: AsyncConnection[Any], alert_id: int) -> None:
    """Make an open escalating alert due at once (its severity rose: the engine looks at the new policy)."""
    await conn.execute(
        "UPDATE alerts SET next_due_at = now() WHERE id = %s AND resolved_at IS NULL AND escalation IS NOT NULL",
        (alert_id,),
    )


async def advance(conn: AsyncConnection[Any], alert_id: int, next_step: int, next_due: datetime | None) -> None:
    """Store where the chain stands after a step (None: nothing more is due)."""
    await conn.execute(
        "UPDATE alerts SET next_step = %s, next_due_at = %s WHERE id = %s", (next_step, next_due, alert_id)
    )


async def first_notified(
    conn: AsyncConnection[Any], alert_id: int, when: datetime
) -> tuple[datetime, str | None] | None:
    """Record the alert's first notification time once; returns (opened_at, event class) the first time only."""
    row = await (
        await conn.execute(
            "UPDATE alerts SET first_notified_at = %s WHERE id = %s AND first_notified_at IS NULL "
            "RETURNING opened_at, escalation->>'event_class'",
            (when, alert_id),
        )
    ).fetchone()
    return None if row is None else (row[0], row[1])
