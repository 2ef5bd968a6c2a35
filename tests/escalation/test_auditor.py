"""The escalation auditor against the real database, a real signed-webhook receiver and `/metrics`: a chain
no runner steps (the runners are stalled: none is started) and an alarm message left undelivered are each told
to the operations webhook once, however often and by however many processes it is checked, and the gauge
follows what is late at each check. The clock is injected."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.db.pool import make_pool
from cloud.escalation import engine
from cloud.escalation.auditor import Auditor
from tests.escalation.conftest import SECRET, new_patient, open_alerts, set_policy, three_steps
from tests.escalation.receivers import WebhookServer, webhook_server
from tests.support.app import app_client
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

TICK = 5.0


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookServer]:
    with webhook_server(SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def client(esc_db: TestDatabase, tenants: Tenants) -> Iterator[TestClient]:
    """The API with no escalation runner: nothing steps the chains unless the test does."""
    with app_client(esc_db.runtime_url, evaluation=False, escalation=False) as test_client:
        yield test_client


def _gauge(client: TestClient, kind: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'tryggheim_escalation_trouble{{kind="{kind}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no gauge for {kind}")


def _check(url: str, hook: WebhookServer, moments: list[tuple[str, float]]) -> list[dict[str, int]]:
    """Each (process, time) check in turn, by two auditors sharing the database as two processes do."""

    async def go() -> list[dict[str, int]]:
        pool = make_pool(url, min_size=1, max_size=2, timeout_s=5)
        await pool.open()
        clock = [0.0]
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                auditors = {name: Auditor(pool, http, tick_s=TICK, process=name, url=f"{hook.url}/ok",
                                          secret=SECRET, clock=lambda: clock[0]) for name in ("p1", "p2")}  # fmt: skip
                found = []
                for name, at in moments:
                    clock[0] = at
                    found.append(await auditors[name].check())
                return found
        finally:
            await pool.close()

    return asyncio.run(go())


def _step(url: str, now: float) -> None:
    async def go() -> None:
        pool = make_pool(url, min_size=1, max_size=2, timeout_s=5)
        await pool.open()
        try:
            while await engine.step_next(pool, now, 60.0, "test"):
                pass
        finally:
            await pool.close()

    asyncio.run(go())


def test_a_stalled_chain_is_told_once_and_the_gauge_follows(
    esc_db: TestDatabase, tenants: Tenants, hook: WebhookServer, client: TestClient
) -> None:
    url, t0 = esc_db.runtime_url, float(int(time.time()))
    set_policy(url, tenants.a.municipality_id, three_steps())
    patient = new_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"])
    open_alerts(url, patient, 2, opened_at=t0, prefix="stall")
    before = len(hook.inbox.items)
    early = _check(url, hook, [("p1", t0 + 2 * TICK)])  # due, late by two ticks: not yet overdue
    assert early == [{"overdue_steps": 0, "stale_alarm_outbox": 0}]
    late = _check(url, hook, [("p1", t0 + 2 * TICK + 1), ("p2", t0 + 3 * TICK), ("p1", t0 + 4 * TICK)])
    assert [c["overdue_steps"] for c in late] == [2, 2, 2]
    assert _gauge(client, "overdue_steps") == 2
    told = hook.inbox.items[before:]
    assert len(told) == 1, "one incident, one message, whichever process checks"
    assert '"incident": "overdue_steps"' in told[0].body and '"severity": "red"' in told[0].body
    _step(url, t0 + 4 * TICK)  # a runner catches up: the next steps are a minute away
    assert _check(url, hook, [("p2", t0 + 5 * TICK)])[0]["overdue_steps"] == 0
    assert _gauge(client, "overdue_steps") == 0
    _check(url, hook, [("p1", t0 + 61 + 3 * TICK)])  # the next step is stalled again: a new incident
    assert len(hook.inbox.items) - before == 2


def test_an_undelivered_alarm_message_is_told_after_a_minute(
    esc_db: TestDatabase, tenants: Tenants, hook: WebhookServer, client: TestClient
) -> None:
    url, t0 = esc_db.runtime_url, float(int(time.time())) + 3600
    patient = new_patient(url, tenants.a.municipality_id, tenants.a.teams["Nord"])
    (alert,) = open_alerts(url, patient, 1, opened_at=t0, prefix="alarm")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET escalation = jsonb_set(escalation, '{event_class}', '\"alarm\"'), "
                     "next_due_at = NULL WHERE id = %s", (alert,))  # fmt: skip
        conn.execute(
            "INSERT INTO notifications (alert_id, step, kind, channel, target, idempotency_key, due_at, created_at, "
            "next_attempt_at) VALUES (%s, 2, 'step', 'webhook', 'response_centre', gen_random_uuid(), "
            "to_timestamp(%s), to_timestamp(%s), to_timestamp(%s))",
            (alert, t0, t0, t0 + 30),
        )
    before = len(hook.inbox.items)
    found = _check(url, hook, [("p1", t0 + 59), ("p2", t0 + 61), ("p1", t0 + 70)])
    assert [c["stale_alarm_outbox"] for c in found] == [0, 1, 1]
    assert _gauge(client, "stale_alarm_outbox") == 1
    told = hook.inbox.items[before:]
    assert len(told) == 1 and '"incident": "stale_alarm_outbox"' in told[0].body
