"""The drain takes a group of patients per transaction (cloud/evaluation/drain.py).

- One failing patient in a group: the others are evaluated and committed, only that one is retried.
- Two workers draining at once claim every queued row exactly once, in groups.
- An alarm is not held behind a group: the claim takes alarm patients only, a second worker takes an alarm
  while a group holds its rows, and the runner drains alarms beside a running group.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import psycopg
import pytest

from cloud.db.pool import connect, make_pool
from cloud.evaluation import drain as drain_module
from cloud.evaluation import queue
from cloud.evaluation.drain import claim_group, evaluate_group
from cloud.evaluation.queue import Claim
from cloud.evaluation.runner import EvaluationRunner
from tests.evaluation.conftest import new_patient
from tests.support.db import drain, rows
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


def _patients(url: str, tenants: Tenants, count: int) -> list[UUID]:
    drain(url)  # what earlier tests left queued is not this test's
    return [new_patient(url, tenants) for _ in range(count)]


def _queue(url: str, patients: Sequence[UUID], metrics: Sequence[str | None], alarm: bool = False) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(
            "INSERT INTO pending_evaluations (patient_id, metric, alarm) SELECT p, m, %s FROM unnest(%s::uuid[]) "
            "WITH ORDINALITY AS x(p, i), unnest(%s::text[]) AS m ORDER BY i RETURNING id",
            (alarm, list(patients), list(metrics)),
        ).fetchall()
    return [int(r[0]) for r in found]


_WAITING = "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _queued(url: str, patients: Sequence[UUID]) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT patient_id, attempts, retry_at > now() FROM pending_evaluations "
                "WHERE patient_id = ANY(%s)", list(patients))  # fmt: skip


def test_one_failing_patient_does_not_hold_back_the_others_of_its_group(
    eval_db: TestDatabase, tenants: Tenants
) -> None:
    url = eval_db.runtime_url
    good_before, bad, good_after = _patients(url, tenants, 3)
    with psycopg.connect(url, autocommit=True) as conn:  # a protocol that cannot be loaded
        conn.execute("INSERT INTO patient_protocols (patient_id, protocols) VALUES (%s, '{no_such_protocol}')", (bad,))
    _queue(url, [good_before, bad, good_after], [None, "body.weight"])

    async def run() -> int | None:
        pool = make_pool(url, min_size=1, max_size=1, timeout_s=5)
        await pool.open()
        try:
            return await evaluate_group(pool, limit=32)
        finally:
            await pool.close()

    assert asyncio.run(run()) == 3  # one group of three, then each one by one
    # The good ones were evaluated and their rows are gone; the bad one's rows wait for a retry with back-off.
    assert sorted(_queued(url, [good_before, bad, good_after])) == [(bad, 1, True), (bad, 1, True)]
    failures = rows(url, "SELECT patient_id, event, rule FROM alert_transitions WHERE patient_id = ANY(%s)",
                    [good_before, bad, good_after])  # fmt: skip
    assert failures == [(bad, "detector_failed", "evaluation")]


def test_two_workers_draining_at_once_claim_every_row_once(
    eval_db: TestDatabase, tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = eval_db.runtime_url
    patients = _patients(url, tenants, 40)
    queued = _queue(url, patients, [None, "body.weight", "spo2"])
    claimed: list[int] = []
    groups: list[list[UUID]] = []

    async def recording(conn: Any, jobs: Sequence[Claim], *args: Any, **kwargs: Any) -> Any:
        claimed.extend(i for job in jobs for i in job.ids)
        groups.append([job.patient_id for job in jobs])
        await asyncio.sleep(0.01)  # hold the group a little so that the two workers overlap
        return await queue.evaluate_all(conn, jobs, *args, **kwargs)

    monkeypatch.setattr(drain_module, "evaluate_all", recording)

    async def run() -> list[int]:
        pools = [make_pool(url, min_size=1, max_size=2, timeout_s=5) for _ in range(2)]
        for pool in pools:
            await pool.open()
        try:
            return list(await asyncio.gather(*(EvaluationRunner(pool, group_size=8).drain() for pool in pools)))
        finally:
            for pool in pools:
                await pool.close()

    done = asyncio.run(run())
    assert sorted(claimed) == sorted(queued)  # every row once, none twice
    assert all(n > 0 for n in done) and sum(done) == sum(len(g) for g in groups)
    assert max(len(g) for g in groups) > 1  # groups, not one patient at a time
    assert _queued(url, patients) == []
    assert {p for group in groups for p in group} == set(patients)


def test_an_alarm_is_claimed_alone_and_not_held_behind_an_open_group(eval_db: TestDatabase, tenants: Tenants) -> None:
    url = eval_db.runtime_url
    *ordinary, alarmed = _patients(url, tenants, 11)
    _queue(url, ordinary, ["body.weight"])
    _queue(url, [alarmed], ["alarm.button"], alarm=True)

    async def run() -> None:
        holder = await connect(url, autocommit=False)
        pool = make_pool(url, min_size=1, max_size=1, timeout_s=5)
        await pool.open()
        try:
            async with holder.transaction():
                # The claim of a queue whose head is an alarm takes the alarm patient only.
                assert [job.patient_id for job in await claim_group(holder, limit=32)] == [alarmed]
                raise psycopg.Rollback
            assert await evaluate_group(pool, limit=32) == 1  # the alarm patient alone
            assert len(_queued(url, ordinary)) == len(ordinary)
            # A group of ordinary patients is open and holds its rows; the alarm queued now is another worker's.
            async with holder.transaction():
                group = await claim_group(holder, limit=32)
                assert {job.patient_id for job in group} == set(ordinary)
                _queue(url, [alarmed], ["alarm.button"], alarm=True)
                assert await evaluate_group(pool, alarm_only=True) == 1
                assert _queued(url, [alarmed]) == []
                raise psycopg.Rollback  # the group's rows come back
        finally:
            await holder.close()
            await pool.close()

    asyncio.run(run())
    assert len(_queued(url, ordinary)) == len(ordinary)
    assert drain(url) == len(ordinary)


def test_the_runner_drains_an_alarm_beside_a_running_group(eval_db: TestDatabase, tenants: Tenants) -> None:
    url = eval_db.runtime_url
    blocked, alarmed = _patients(url, tenants, 2)
    _queue(url, [blocked], ["body.weight"])

    async def run() -> None:
        holder = await connect(url)
        pool = make_pool(url, min_size=1, max_size=2, timeout_s=5)
        await pool.open()
        runner = EvaluationRunner(pool)
        key = f"evaluate:{blocked}"
        try:
            # The drain's group waits for the blocked patient's evaluation lock, which this test holds.
            await holder.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
            draining = asyncio.create_task(runner.drain())
            await asyncio.to_thread(_wait_for, lambda: bool(rows(url, _WAITING)), "the group to wait for the lock")
            _queue(url, [alarmed], ["alarm.button"], alarm=True)
            runner._alarm_notified()  # what the NOTIFY of ingest does
            await asyncio.to_thread(_wait_for, lambda: not _queued(url, [alarmed]), "the alarm to be evaluated")
            assert not draining.done()
            await holder.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
            assert await draining == 1
            assert runner.evaluated == 2
        finally:
            await holder.close()
            await pool.close()

    asyncio.run(run())
