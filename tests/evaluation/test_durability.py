"""No alarm is lost between the ingest commit and its alert, and concurrent evaluation opens one alert.

- A real `tryggheim cloud serve` stores an alarm press, claims it for evaluation and is SIGKILLed before it
  can commit the evaluation; another process (this one) then opens the alert from the queue.
- Two workers on separate connections evaluate the same patient at once: exactly one open alert.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from uuid import UUID

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.db.pool import connect, make_pool
from cloud.evaluation.drain import evaluate_group
from common.ports import free_port
from tests.support.db import drain, rows
from tests.support.kits import Kit, batch, reading
from tests.support.proc import TRYGGHEIM, env_with, wait_for_line
from tests.support.services import TestDatabase


def _press(seq: int, kit: Kit) -> dict[str, object]:
    return reading(seq, kit.button, metric="alarm.button", value=1, unit="1")


def _lock_key(patient_id: UUID) -> str:
    return f"evaluate:{patient_id}"


def _advisory_waiters(url: str) -> list[int]:
    """Backends of this database waiting for an advisory lock."""
    found = rows(url, "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                 "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()")  # fmt: skip
    return [int(r[0]) for r in found]


def _waiting_on_advisory_locks(url: str) -> int:
    return len(_advisory_waiters(url))


def _wait_for(condition: object, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _open_alarm_alerts(url: str, patient_id: UUID) -> list[tuple[object, ...]]:
    return rows(url, "SELECT rule, repeats FROM alerts WHERE patient_id = %s AND rule = 'wf.alarm_button' "
                "AND resolved_at IS NULL", patient_id)  # fmt: skip


@pytest.mark.slow
def test_a_process_killed_between_commit_and_evaluation_loses_no_alarm(kit: Kit, eval_db: TestDatabase) -> None:
    url = eval_db.runtime_url
    # Hold the patient's evaluation lock: the server's worker will claim the queued row and then wait here,
    # inside its transaction, which is exactly "after the ingest commit, before the evaluation commit".
    holder = psycopg.connect(url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (_lock_key(kit.patient_id),))
    port = free_port()
    env = env_with(TRYGGHEIM_DATABASE_URL=url, TRYGGHEIM_PORT=str(port), TRYGGHEIM_LOG_LEVEL="WARNING")
    server = subprocess.Popen([TRYGGHEIM, "cloud", "serve"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        base = wait_for_line(server, "http://", timeout=30)
        response = httpx.post(f"{base}/api/v1/ingest", json=batch(kit, [_press(1, kit)]), headers=kit.auth)
        assert response.status_code == 200 and response.json()["stored"] == 1
        _wait_for(lambda: _waiting_on_advisory_locks(url) >= 1, "the server's worker to claim the row")
        orphans = _advisory_waiters(url)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    # The dead process's backend finds out when it gets the lock and answers a closed socket; its
    # transaction rolls back and the queue row is back.
    holder.close()
    _wait_for(lambda: not rows(url, "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", orphans),
              "the dead server's evaluation session to end")  # fmt: skip
    assert _open_alarm_alerts(url, kit.patient_id) == []
    # The alarm row is still queued (beside the sweep row the server's scheduler queued at start).
    assert (True,) in rows(url, "SELECT alarm FROM pending_evaluations WHERE patient_id = %s", kit.patient_id)
    drain(url)  # another process
    assert _open_alarm_alerts(url, kit.patient_id) == [("wf.alarm_button", 0)]
    assert rows(url, "SELECT 1 FROM pending_evaluations WHERE patient_id = %s", kit.patient_id) == []


def test_two_workers_evaluating_one_patient_at_once_leave_one_open_alert(
    client: TestClient, kit: Kit, eval_db: TestDatabase
) -> None:
    url = eval_db.runtime_url

    def post(seq: int) -> None:
        response = client.post("/api/v1/ingest", json=batch(kit, [_press(seq, kit)]), headers=kit.auth)
        assert response.status_code == 200 and response.json()["stored"] == 1

    async def race() -> None:
        pools = [make_pool(url, min_size=1, max_size=1, timeout_s=5) for _ in range(2)]
        for pool in pools:
            await pool.open()
        holder = await connect(url)
        try:
            await holder.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (_lock_key(kit.patient_id),))
            post(1)
            first = asyncio.create_task(evaluate_group(pools[0]))
            await asyncio.to_thread(_wait_for, lambda: _waiting_on_advisory_locks(url) == 1, "worker 1")
            post(2)  # a second press arrives while the first is being evaluated
            second = asyncio.create_task(evaluate_group(pools[1]))
            await asyncio.to_thread(_wait_for, lambda: _waiting_on_advisory_locks(url) == 2, "worker 2")
            await holder.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (_lock_key(kit.patient_id),))
            # Each worker evaluated the patient once: the second after the first's commit, seeing its alert.
            assert list(await asyncio.gather(first, second)) == [1, 1]
        finally:
            await holder.close()
            for pool in pools:
                await pool.close()

    asyncio.run(race())
    assert len(_open_alarm_alerts(url, kit.patient_id)) == 1
    events = rows(url, "SELECT event FROM alert_transitions WHERE patient_id = %s AND rule = 'wf.alarm_button'",
                  kit.patient_id)  # fmt: skip
    assert [e[0] for e in events].count("triggered") == 1
    # The database refuses a second open alert for the same rule whoever writes it.
    with pytest.raises(psycopg.errors.UniqueViolation), psycopg.connect(url) as conn:
        conn.execute("INSERT INTO alerts (patient_id, rule, alert_class, severity, auto_resolve, opened_at, "
                     "updated_at, message) VALUES (%s, 'wf.alarm_button', 'clinical', 'red', false, now(), now(), "
                     "'duplicate')", (kit.patient_id,))  # fmt: skip
