"""Rate limits per channel and municipality: a flood (a broken sensor, a bug) cannot send thousands of messages.

Each municipality and channel may send `limit` messages per window (`notify_rate_window_s`, counted in
`notification_rates`). Alarm-class notifications are never held or dropped: over the limit they are sent
anyway and counted as `alarm_excess` (in /metrics and GET /api/v1/notifications/rate-limits). A non-alarm
notification over the limit is suppressed with a record: its row says `suppressed` with the reason, an attempt
is kept, and the window counts it. Suppressing is done in bulk for every due non-alarm row of that
municipality and channel, so a flood of thousands drains in one statement. The alert itself stays in the
worklist (the in-app channel is never limited); only the message outside is dropped, not deferred, because a
late flood of stale messages would help no one. The first trip of a window is noticed once
(`send_notices`): the municipality's `admin` e-mail endpoints and the operations webhook are told.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import httpx
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from cloud import telemetry
from cloud.notify import DeliveryError
from cloud.notify.email import EmailChannel
from cloud.notify.webhook import post_signed

log = logging.getLogger(__name__)
ALARM = "alarm"
ADMIN_TARGET = "admin"


@dataclass(frozen=True)
class RateLimits:
    """Messages per window per municipality and channel (a channel not listed is not limited)."""

    window_s: float = 3600.0
    per_channel: dict[str, int] = field(default_factory=lambda: {"email": 200, "webhook": 2000, "sms": 100})
    ops_webhook_url: str | None = None
    ops_webhook_secret: str | None = None


def _window(now: float, window_s: float) -> datetime:
    return datetime.fromtimestamp(now - now % window_s, UTC)


async def admit(
    conn: AsyncConnection[Any], town: UUID, channel: str, category: str, now: float, limits: RateLimits
) -> bool:
    """Whether this notification may be sent now. Reads the window's count without locking it (a few
    concurrent workers may overshoot by one each, never block one another on a send); `count` records it."""
    limit = limits.per_channel.get(channel)
    if limit is None or category == ALARM:
        return True
    row = await (
        await conn.execute(
            "SELECT sent FROM notification_rates WHERE municipality_id = %s AND channel = %s AND window_start = %s",
            (town, channel, _window(now, limits.window_s)),
        )
    ).fetchone()
    return row is None or row[0] < limit


async def count_sent(
    conn: AsyncConnection[Any], town: UUID, channel: str, category: str, now: float, limits: RateLimits
) -> None:
    """Count a sent message in its window (an alarm over the limit as `alarm_excess`, trip not noticed: alarms
    over the limit are shown, not announced)."""
    limit = limits.per_channel.get(channel)
    if limit is None:
        return
    row = await (
        await conn.execute(
            "INSERT INTO notification_rates (municipality_id, channel, window_start, sent) VALUES (%s, %s, %s, 1) "
            "ON CONFLICT (municipality_id, channel, window_start) DO UPDATE SET sent = notification_rates.sent + 1 "
            "RETURNING sent",
            (town, channel, _window(now, limits.window_s)),
        )
    ).fetchone()
    if category == ALARM and row is not None and row[0] > limit:
        await conn.execute(
            "UPDATE notification_rates SET alarm_excess = alarm_excess + 1 WHERE municipality_id = %s "
            "AND channel = %s AND window_start = %s",
            (town, channel, _window(now, limits.window_s)),
        )
        telemetry.RATE_LIMITED.labels(channel, "alarm_excess").inc()


_SUPPRESS = """
WITH due AS (
    SELECT n.id FROM notifications n JOIN alerts a ON a.id = n.alert_id JOIN patients p ON p.id = a.patient_id
    WHERE n.status = 'pending' AND n.next_attempt_at <= %(now)s AND n.channel = %(channel)s
      AND p.municipality_id = %(town)s AND coalesce(a.escalation->>'event_class', '') <> 'alarm'
    FOR UPDATE OF n SKIP LOCKED
), held AS (
    UPDATE notifications SET status = 'suppressed', last_error = %(why)s FROM due WHERE notifications.id = due.id
    RETURNING notifications.id
)
INSERT INTO notification_attempts (notification_id, at, ok, detail, process)
SELECT id, %(now)s, false, %(why)s, %(process)s FROM held
"""


async def suppress(
    conn: AsyncConnection[Any], town: UUID, channel: str, now: float, limits: RateLimits, process: str
) -> int:
    """Suppress, with a record each, every due non-alarm notification of the municipality on the channel
    (the caller's claimed row among them); returns how many, counted in the window, which trips."""
    at = datetime.fromtimestamp(now, UTC)
    why = (f"suppressed: the {channel} rate limit ({limits.per_channel.get(channel)} per {limits.window_s:g} s) "
           "was reached in this municipality; the alert is in the worklist")  # fmt: skip
    cur = await conn.execute(_SUPPRESS, {"now": at, "channel": channel, "town": town, "why": why, "process": process})
    held = cur.rowcount
    await conn.execute(
        "INSERT INTO notification_rates (municipality_id, channel, window_start, suppressed, tripped_at) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (municipality_id, channel, window_start) DO UPDATE SET "
        "suppressed = notification_rates.suppressed + EXCLUDED.suppressed, "
        "tripped_at = coalesce(notification_rates.tripped_at, EXCLUDED.tripped_at)",
        (town, channel, _window(now, limits.window_s), held, at),
    )
    telemetry.RATE_LIMITED.labels(channel, "suppressed").inc(held)
    return held


def _notice_text(row: dict[str, Any], limits: RateLimits) -> str:
    return (
        f"Tryggheim: the {row['channel']} rate limit ({limits.per_channel.get(row['channel'])} messages per "
        f"{limits.window_s:g} s) was reached at {row['tripped_at'].isoformat()} in municipality "
        f"{row['municipality_id']}. Further non-alarm messages on this channel are suppressed until "
        f"{row['ends'].isoformat()} (the alerts stay in the worklist); alarms are still sent. "
        "See GET /api/v1/notifications/rate-limits."
    )


async def send_notices(
    pool: AsyncConnectionPool, email: EmailChannel | None, http: httpx.AsyncClient, limits: RateLimits
) -> int:
    """Tell the admins and the operations webhook about each trip not yet noticed, once; returns how many."""
    told = 0
    while True:
        async with pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            row = await (
                await cur.execute(
                    "SELECT municipality_id, channel, window_start, tripped_at, window_start + make_interval(secs "
                    "=> %s) AS ends FROM notification_rates WHERE tripped_at IS NOT NULL AND noticed_at IS NULL "
                    "ORDER BY tripped_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                    (limits.window_s,),
                )
            ).fetchone()
            if row is None:
                return told
            await _tell(conn, row, email, http, limits)
            await conn.execute(
                "UPDATE notification_rates SET noticed_at = now() WHERE municipality_id = %s AND channel = %s "
                "AND window_start = %s",
                (row["municipality_id"], row["channel"], row["window_start"]),
            )
            told += 1


async def _tell(
    conn: AsyncConnection[Any], row: dict[str, Any], email: EmailChannel | None, http: httpx.AsyncClient,
    limits: RateLimits,
) -> None:  # fmt: skip
    """Send the notice; a failure is logged (an error, for the operators' log alerts), not retried, so a
    broken mail server cannot turn one trip into a stream of notices."""
    text = _notice_text(row, limits)
    admins = await (
        await conn.execute(
            "SELECT address FROM notification_endpoints WHERE municipality_id = %s AND target = %s "
            "AND channel = 'email'",
            (row["municipality_id"], ADMIN_TARGET),
        )
    ).fetchall()
    for (address,) in admins:
        if email is None:
            log.error("rate limit tripped, no SMTP server to tell %s", address)
            continue
        mail = EmailMessage()
        mail["Subject"], mail["From"], mail["To"] = "Tryggheim: rate limit reached", email.settings.sender, address
        mail.set_content(text + "\n")
        try:
            await email.deliver(mail)
        except DeliveryError as exc:
            log.error("rate-limit notice to %s failed: %s", address, exc)
    if limits.ops_webhook_url and limits.ops_webhook_secret:
        body = {"event": "rate_limit_tripped", "municipality_id": str(row["municipality_id"]),
                "channel": row["channel"], "tripped_at": row["tripped_at"].isoformat(), "text": text}  # fmt: skip
        key = f"rate-{row['municipality_id']}-{row['channel']}-{int(row['window_start'].timestamp())}"
        try:
            await post_signed(http, limits.ops_webhook_url, limits.ops_webhook_secret, key,
                              json.dumps(body, separators=(",", ":")).encode())  # fmt: skip
        except DeliveryError as exc:
            log.error("rate-limit notice to the operations webhook failed: %s", exc)
    log.warning("rate limit tripped", extra={"municipality_id": str(row["municipality_id"]), "channel": row["channel"]})


async def windows(conn: AsyncConnection[Any], municipality_id: UUID, limit: int = 48) -> list[dict[str, Any]]:
    """The municipality's latest rate windows: sent, suppressed, alarms over the limit, trip and notice."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT channel, window_start, sent, suppressed, alarm_excess, tripped_at, noticed_at FROM "
        "notification_rates WHERE municipality_id = %s ORDER BY window_start DESC, channel LIMIT %s",
        (municipality_id, limit),
    )
    return list(await cur.fetchall())
