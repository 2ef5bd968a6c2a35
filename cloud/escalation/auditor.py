"""The escalation auditor: every process checks, on each tick, that escalation is keeping up.

Two kinds of trouble: an open alert whose next step was due more than two ticks ago (no process is stepping:
the runners are stalled, the database is overloaded, a step keeps failing), and an alarm-class message still
undelivered a minute after it was written. Each check sets the `tryggheim_escalation_trouble` gauge of its
process and keeps one `ops_incidents` row per kind of trouble seen now; the process that finds the row not yet
told POSTs a red alert to the operations webhook while holding the row's lock, so two processes sharing the
database tell it once per incident, and a failed POST is tried again at the next check. When the trouble is
over the row goes, and the next incident is told again. The clock is a parameter: tests inject it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from cloud import telemetry
from cloud.notify import DeliveryError
from cloud.notify.webhook import post_signed

log = logging.getLogger(__name__)
OVERDUE_TICKS = 2
STALE_ALARM_S = 60.0
KINDS = ("overdue_steps", "stale_alarm_outbox")
_WHAT = {
    "overdue_steps": "escalation steps are overdue by more than two ticks",
    "stale_alarm_outbox": "alarm-class notifications are undelivered after 60 s",
}
_COUNTS = (
    "SELECT (SELECT count(*) FROM alerts WHERE resolved_at IS NULL AND escalation IS NOT NULL "
    "AND next_due_at < %(late)s) AS overdue_steps, "
    "(SELECT count(*) FROM notifications n JOIN alerts a ON a.id = n.alert_id WHERE n.status = 'pending' "
    "AND a.escalation->>'event_class' = 'alarm' AND n.created_at < %(stale)s) AS stale_alarm_outbox"
)


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Auditor:
    """One process's auditor; `check()` is what the runner's scheduler calls every tick."""

    def __init__(
        self, pool: AsyncConnectionPool, http: httpx.AsyncClient, *, tick_s: float, process: str,
        url: str | None, secret: str | None, clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.pool = pool
        self.http = http
        self.tick_s = tick_s
        self.process = process
        self.url = url
        self.secret = secret
        self.clock = clock

    async def check(self) -> dict[str, int]:
        """Count what is late now, set the gauge, keep the incidents, tell operations of new ones."""
        now = self.clock()
        async with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                _COUNTS, {"late": _dt(now - OVERDUE_TICKS * self.tick_s), "stale": _dt(now - STALE_ALARM_S)}
            )
            found = await cur.fetchone()
            assert found is not None
            counts = {kind: int(found[kind]) for kind in KINDS}
            for kind, count in counts.items():
                telemetry.ESCALATION_TROUBLE.labels(kind).set(count)
                if count:
                    await conn.execute(
                        "INSERT INTO ops_incidents (kind, since, count) VALUES (%s, %s, %s) "
                        "ON CONFLICT (kind) DO UPDATE SET count = EXCLUDED.count",
                        (kind, _dt(now), count),
                    )
                else:
                    await conn.execute("DELETE FROM ops_incidents WHERE kind = %s", (kind,))
        for kind, count in counts.items():
            if count:
                await self._tell(kind, now)
        return counts

    async def _tell(self, kind: str, now: float) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT since, count FROM ops_incidents WHERE kind = %s AND notified_at IS NULL FOR UPDATE SKIP LOCKED",
                (kind,),
            )
            row = await cur.fetchone()
            if row is None:
                return
            body = {"kind": "escalation_audit", "severity": "red", "incident": kind, "count": row["count"],
                    "since": row["since"].isoformat(), "message": f"{row['count']} {_WHAT[kind]}",
                    "process": self.process}  # fmt: skip
            log.error("escalation auditor: %s", body["message"], extra={"incident": kind})
            if self.url and self.secret:
                key = f"{kind}:{row['since'].isoformat()}"
                try:
                    await post_signed(self.http, self.url, self.secret, key, json.dumps(body).encode())
                except DeliveryError as exc:  # the row stays untold: the next check tries again
                    log.error("operations webhook failed: %s", exc)
                    return
            await conn.execute(
                "UPDATE ops_incidents SET notified_at = %s, notified_by = %s WHERE kind = %s",
                (_dt(now), self.process, kind),
            )
