"""Delivering the notifications outbox: at least once, with retries, back-off, receipts and a dead-letter.

A worker locks the oldest deliverable row (`FOR UPDATE SKIP LOCKED`) and sends it while holding the lock, so
no two processes send the same row at once; if the process dies mid-send the transaction rolls back and the
row is sent again later with the same idempotency key (receivers drop the duplicate). Each attempt is kept in
`notification_attempts`. After `max_attempts` failures the row is dead-lettered and an internal alert
(`notify.delivery_failed`) opens in the patient's worklist, so a broken channel is itself seen by a person.
A step notification whose alert was acknowledged meanwhile, or any notification of an alert resolved
meanwhile, is cancelled, not sent. Alarm-class rows are claimed first, so an alarm never waits behind a
flood; rate limits (cloud/escalation/ratelimit.py) suppress non-alarm rows over the limit, never alarms.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from alerts.escalation import round_of
from alerts.explain import JSONValue
from alerts.lifecycle import Event
from cloud import telemetry
from cloud.alert_store import store
from cloud.escalation.engine import first_notified
from cloud.escalation.policies import attach
from cloud.escalation.ratelimit import RateLimits, admit, count_sent, suppress
from cloud.notify import Channel, DeliveryError, Message
from cloud.notify.sealing import SealError, SecretBox

log = logging.getLogger(__name__)
DEAD_LETTER_RULE = "notify.delivery_failed"  # the platform's own alert about itself, not a protocol rule
INTERNAL_CLASS = "internal"  # its event class: worklist only, so a failing channel cannot feed itself
SEND_TIMEOUT_S = 20.0
MAX_BACKOFF_S = 3600.0


@dataclass(frozen=True)
class Delivery:
    """What one call did: the notification and its new status."""

    notification_id: int
    status: str
    detail: str


def backoff(base_s: float, attempts: int) -> float:
    """Seconds until the next attempt after `attempts` failures: doubling from `base_s`, capped at an hour."""
    return float(min(MAX_BACKOFF_S, base_s * 2 ** max(0, attempts - 1)))


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


_CLAIM = (
    "SELECT n.id, n.alert_id, n.step, n.kind, n.channel, n.target, n.idempotency_key, n.attempts, a.state, "
    "a.severity, a.escalation->>'event_class' AS category, a.explanation->>'title' AS title, p.municipality_id "
    "FROM notifications n "
    "JOIN alerts a ON a.id = n.alert_id JOIN patients p ON p.id = a.patient_id "
    "WHERE n.status = 'pending' AND n.next_attempt_at <= %s ORDER BY n.next_attempt_at, n.id "
    "LIMIT 1 FOR UPDATE OF n SKIP LOCKED"
)
# Alarms first, from the few open alarm alerts (index alerts_open_alarm, migration 0019; materialised so the
# plan starts there): a flood of other notifications in the outbox never stands in front of an alarm.
_CLAIM_ALARM = (
    "WITH alarm AS MATERIALIZED (SELECT id FROM alerts WHERE resolved_at IS NULL "
    "AND escalation->>'event_class' = 'alarm') "
    "SELECT n.id, n.alert_id, n.step, n.kind, n.channel, n.target, n.idempotency_key, n.attempts, a.state, "
    "a.severity, a.escalation->>'event_class' AS category, a.explanation->>'title' AS title, p.municipality_id "
    "FROM alarm JOIN notifications n ON n.alert_id = alarm.id JOIN alerts a ON a.id = n.alert_id "
    "JOIN patients p ON p.id = a.patient_id WHERE n.status = 'pending' AND n.next_attempt_at <= %s "
    "ORDER BY n.next_attempt_at, n.id LIMIT 1 FOR UPDATE OF n SKIP LOCKED"
)


@dataclass(frozen=True)
class OutboxSettings:
    """How the outbox retries, and the base of links."""

    max_attempts: int
    backoff_s: float
    public_url: str
    process: str
    box: SecretBox = field(default_factory=lambda: SecretBox(None))
    limits: RateLimits = field(default_factory=RateLimits)


async def deliver_next(
    pool: AsyncConnectionPool, channels: dict[str, Channel], now: float, settings: OutboxSettings
) -> Delivery | None:
    """Attempt the oldest deliverable notification once; None when nothing is deliverable at `now`."""
    async with pool.connection() as conn, conn.transaction():
        claim = conn.cursor(row_factory=dict_row)
        found = await (await claim.execute(_CLAIM_ALARM, (_dt(now),))).fetchone()
        found = found or await (await claim.execute(_CLAIM, (_dt(now),))).fetchone()
        if found is None:
            return None
        nid, alert_id, step, kind = found["id"], found["alert_id"], found["step"], found["kind"]
        channel, target, key, attempts = found["channel"], found["target"], found["idempotency_key"], found["attempts"]
        state, severity, town = found["state"], found["severity"], found["municipality_id"]
        category = found["category"] or "unknown"
        if state == "resolved" or (kind == "step" and state != "triggered"):
            await conn.execute("UPDATE notifications SET status = 'cancelled' WHERE id = %s", (nid,))
            await _attempt(
                conn, nid, now, ok=False, detail=f"cancelled: alert {state} before delivery", settings=settings
            )
            return Delivery(nid, "cancelled", state)
        if not await admit(conn, town, channel, category, now, settings.limits):
            held = await suppress(conn, town, channel, now, settings.limits, settings.process)
            return Delivery(nid, "suppressed", f"rate limit: {held} suppressed")
        endpoint = await (
            await claim.execute(
                "SELECT address, secret, options FROM notification_endpoints WHERE municipality_id = %s "
                "AND target = %s AND channel = %s",
                (town, target, channel),
            )
        ).fetchone()
        sender = channels.get(channel)
        try:
            if endpoint is None:
                raise DeliveryError(f"no {channel} endpoint is configured for {target!r} in this municipality")
            if sender is None:
                raise DeliveryError(f"the {channel} channel is not configured on this process")
            try:
                secret = settings.box.open(endpoint["secret"])
            except SealError as exc:
                raise DeliveryError(str(exc)) from None
            message = Message(
                idempotency_key=str(key), alert_id=alert_id, step=step, kind=kind, category=category,
                severity=severity, link=f"{settings.public_url.rstrip('/')}/alerts/{alert_id}",
                address=endpoint["address"], secret=secret, title=found["title"], options=endpoint["options"],
            )  # fmt: skip
            receipt = await asyncio.wait_for(sender.send(message), SEND_TIMEOUT_S)
        except (DeliveryError, TimeoutError) as exc:
            detail = str(exc) or "timed out"
            return await failed_attempt(conn, nid, attempts + 1, now, detail, channel, settings)
        await conn.execute(
            "UPDATE notifications SET status = 'sent', sent_at = %s, attempts = attempts + 1, receipt = %s, "
            "sent_by = %s, last_error = NULL WHERE id = %s",
            (_dt(now), Jsonb({"detail": receipt.detail, **receipt.data}), settings.process, nid),
        )
        await _attempt(conn, nid, now, ok=True, detail=receipt.detail, settings=settings)
        await first_notified(conn, alert_id, now)
        await count_sent(conn, town, channel, category, now, settings.limits)
        telemetry.NOTIFICATION_ATTEMPTS.labels(channel, "sent").inc()
        return Delivery(nid, "sent", receipt.detail)


async def _attempt(
    conn: AsyncConnection[Any], nid: int, now: float, *, ok: bool, detail: str, settings: OutboxSettings
) -> None:
    await conn.execute(
        "INSERT INTO notification_attempts (notification_id, at, ok, detail, process) VALUES (%s, %s, %s, %s, %s)",
        (nid, _dt(now), ok, detail[:1000], settings.process),
    )


async def failed_attempt(
    conn: AsyncConnection[Any], nid: int, attempts: int, now: float, detail: str, channel: str, s: OutboxSettings
) -> Delivery:
    """Record a failed attempt (also a failed SMS receipt): retry after back-off, or dead-letter at the last."""
    await _attempt(conn, nid, now, ok=False, detail=detail, settings=s)
    if attempts >= s.max_attempts:
        await conn.execute(
            "UPDATE notifications SET status = 'dead', attempts = %s, last_error = %s WHERE id = %s",
            (attempts, detail[:1000], nid),
        )
        await raise_internal_alert(conn, nid, detail, now)
        telemetry.NOTIFICATION_ATTEMPTS.labels(channel, "dead").inc()
        log.error("notification dead-lettered", extra={"notification_id": nid, "error": detail})
        return Delivery(nid, "dead", detail)
    await conn.execute(
        "UPDATE notifications SET status = 'pending', attempts = %s, last_error = %s, next_attempt_at = %s "
        "WHERE id = %s",
        (attempts, detail[:1000], _dt(now + backoff(s.backoff_s, attempts)), nid),
    )
    telemetry.NOTIFICATION_ATTEMPTS.labels(channel, "failed").inc()
    return Delivery(nid, "pending", detail)


async def raise_internal_alert(conn: AsyncConnection[Any], nid: int, detail: str, now: float) -> None:
    """Open (or repeat) the patient's `notify.delivery_failed` alert for a dead-lettered notification."""
    row = await (
        await conn.execute(
            "SELECT a.patient_id, n.step, n.channel, n.target, n.alert_id FROM notifications n "
            "JOIN alerts a ON a.id = n.alert_id WHERE n.id = %s",
            (nid,),
        )
    ).fetchone()
    assert row is not None
    patient, step, channel, target, alert_id = row
    round_number, in_round = round_of(step)
    which = f"Step {in_round + 1}" + (f" (round {round_number})" if round_number > 1 else "")
    message = f"{which} of alert {alert_id} could not be delivered by {channel} to {target}."
    explanation: dict[str, JSONValue] = {"notification_id": nid, "alert_id": alert_id, "step": step,
                                         "channel": channel, "target": target, "error": detail[:500]}  # fmt: skip
    internal, event = await store.raise_internal(conn, patient, DEAD_LETTER_RULE, message, explanation, now)
    if event is Event.TRIGGERED:
        await attach(conn, internal, INTERNAL_CLASS)
