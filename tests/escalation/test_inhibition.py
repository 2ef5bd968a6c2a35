"""Gateway down, re-checked, against the real database with an injected clock: a sensor-silence alert open
before its gateway went offline is folded under the gateway-offline alert (its chain holds: no step runs),
and released when that alert resolves, escalating again after the grace if it is still open."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cloud.db.pool import connect, make_pool
from cloud.escalation import engine
from cloud.escalation.inhibition import RELEASE_GRACE_S, Recheck, recheck
from cloud.escalation.policies import attach
from tests.escalation.conftest import new_patient, set_policy, three_steps
from tests.support.db import rows
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

MINUTE = 60.0


def _open(url: str, patient: Any, rule: str, opened_at: float) -> int:
    async def run() -> int:
        async with await connect(url) as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "INSERT INTO alerts (patient_id, rule, alert_class, severity, auto_resolve, opened_at, updated_at, "
                "message) VALUES (%s, %s, 'liveness', 'yellow', true, to_timestamp(%s), now(), 'test') RETURNING id",
                (patient, rule, opened_at),
            )
            row = await cur.fetchone()
            assert row is not None
            await attach(conn, row["id"], "liveness")
            return int(row["id"])

    return asyncio.run(run())


def _run(url: str, now: float) -> tuple[Recheck, list[int]]:
    """A tick of one process at `now`: the recheck, then every due step; returns both."""

    async def go() -> tuple[Recheck, list[int]]:
        pool = make_pool(url, min_size=1, max_size=2, timeout_s=5)
        await pool.open()
        try:
            done = await recheck(pool, now)
            stepped = []
            while result := await engine.step_next(pool, now, MINUTE, "test"):
                stepped.append(result.alert_id)
            return done, stepped
        finally:
            await pool.close()

    return asyncio.run(go())


def test_silence_alerts_fold_under_the_gateway_alert_and_come_back(esc_db: TestDatabase, tenants: Tenants) -> None:
    url, t0 = esc_db.runtime_url, float(int(time.time()))
    set_policy(url, tenants.a.municipality_id, three_steps())
    patient = new_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"])
    neighbour = new_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"])
    silent = _open(url, patient, "live.motion_sensor_silent", t0)
    battery = _open(url, patient, "live.low_battery", t0)
    other_home = _open(url, neighbour, "live.door_sensor_silent", t0)
    assert _run(url, t0)[0] == Recheck([], [])  # no gateway is down: nothing folds
    gateway = _open(url, patient, "live.gateway_heartbeat", t0 + 30)
    done, _ = _run(url, t0 + 30)
    assert done == Recheck([silent], [])  # not the battery alert, not another patient's silence
    assert _run(url, t0 + 40)[0] == Recheck([], [])  # folded once
    # Steps fall due at one and two minutes: the folded chain holds, the others go on.
    stepped = _run(url, t0 + 3 * MINUTE)[1]
    assert silent not in stepped and {battery, other_home} <= set(stepped)
    assert rows(url, "SELECT inhibited_by, next_due_at FROM alerts WHERE id = %s", silent) == [(gateway, None)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET state = 'resolved', resolved_at = to_timestamp(%s) WHERE id = %s",
                     (t0 + 4 * MINUTE, gateway))  # fmt: skip
    back = t0 + 4 * MINUTE
    done, stepped = _run(url, back)
    assert done == Recheck([], [silent]) and silent not in stepped  # released, with a grace to be heard
    assert rows(url, "SELECT inhibited_by FROM alerts WHERE id = %s", silent) == [(None,)]
    assert silent in _run(url, back + RELEASE_GRACE_S)[1]  # still silent: it escalates again
