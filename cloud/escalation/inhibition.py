"""Gateway down, re-checked: sensor-silence alerts already open when a gateway goes offline are folded under
the gateway-offline alert, as Alertmanager's inhibition does, and released when the gateway returns.

Detection already records a silence that starts while the gateway is down as inhibited (alerts/liveness.py);
this covers the alerts that were open before. Every process runs `recheck` on its escalation tick (the
updates are idempotent, so two processes may run it at once). A folded alert is not escalated and names the
alert it is folded under (`inhibited_by`); once that alert resolves it is released, and escalates again after
`RELEASE_GRACE_S` if it is still open: the sensors behind a returning gateway need a moment to be heard, which
resolves their silence alerts on their own. The clock is a parameter: tests inject it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from cloud.alert_store import inhibition

RELEASE_GRACE_S = 300.0


@dataclass(frozen=True)
class Recheck:
    """What one recheck did."""

    folded: list[int]
    released: list[int]


async def recheck(pool: AsyncConnectionPool, now: float) -> Recheck:
    """Release what a resolved gateway alert held, then fold what an open one should hold, in one transaction."""
    at = datetime.fromtimestamp(now, UTC)
    async with pool.connection() as conn, conn.transaction():
        released = await inhibition.release(conn, at, datetime.fromtimestamp(now + RELEASE_GRACE_S, UTC))
        folded = await inhibition.fold(conn, at)
    return Recheck(folded, released)
