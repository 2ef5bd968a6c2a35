"""What a person's action on an alert means for its escalation, its live screens and its latency metrics."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from cloud import telemetry
from cloud.alert_store.chain import call_started
from cloud.notify.in_app import push

_STAGE = {"acknowledged": ("acknowledged_at", "acknowledged"), "resolved": ("resolved_at", "resolved")}


async def after_action(conn: AsyncConnection[Any], alert_id: int, event: str) -> None:
    """In the action's transaction: push a live event and observe the stage latency. The alert store has
    already made the chain due again (`cloud.alert_store.store`), so the engine looks at it at once."""
    await push(conn, event, alert_id)
    await observe(conn, alert_id, *_STAGE.get(event, (None, None)))


async def observe(conn: AsyncConnection[Any], alert_id: int, column: str | None, stage: str | None) -> None:
    """Observe `opened_at -> column` as `stage` in the per-alert latency histogram; for a safety alarm's later
    round, from the press that started it (`chain.call_started`)."""
    if column is None or stage is None:
        return
    row = await (
        await conn.execute(
            f"SELECT {column} - {call_started()}, escalation->>'event_class' FROM alerts WHERE id = %s",  # noqa: S608
            (alert_id,),
        )
    ).fetchone()
    if row is not None and row[0] is not None:
        telemetry.ALERT_STAGE_SECONDS.labels(stage, row[1] or "unknown").observe(max(0.0, row[0].total_seconds()))


async def observe_ingest(conn: AsyncConnection[Any], alert_id: int) -> None:
    """Observe the stages before the alert opened: device -> gateway -> cloud commit -> alert opened."""
    row = await (
        await conn.execute(
            "SELECT gateway_received_at - device_event_at, cloud_committed_at - gateway_received_at, "
            "opened_at - cloud_committed_at, escalation->>'event_class' FROM alerts WHERE id = %s",
            (alert_id,),
        )
    ).fetchone()
    if row is None:
        return
    for stage, span in zip(("gateway_receipt", "cloud_commit", "alert_opened"), row[:3], strict=True):
        if span is not None:
            telemetry.ALERT_STAGE_SECONDS.labels(stage, row[3] or "unknown").observe(max(0.0, span.total_seconds()))
