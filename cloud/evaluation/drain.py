"""Draining the queue a group of patients per transaction: what one patient per transaction costs, shared.

One statement claims up to `GROUP_SIZE` queue rows (alarm rows first) `FOR UPDATE SKIP LOCKED` and, with
them, every other due row of the same patients; the group's advisory locks are taken in one statement in the
order of their keys, so two workers whose groups overlap wait for each other instead of deadlocking; the
reads of all the group's patients go in two round trips (cloud.evaluation.queue.evaluate_all); each patient
is then judged and their transitions applied in turn, and one commit. The claimed rows are deleted in one
statement sent with the reads: in the same transaction, so they are gone exactly when the transitions are
written. The semantics are those of one patient per transaction (cloud.evaluation.queue): a row is claimed
only once due, a patient outside the service is not evaluated and their rows are dropped, a rule's wait for a
new measurement is queued, and a process that dies before the commit leaves every claimed row for another.

An alarm is not held behind a group: when the first claimable row is an alarm the group is only the patients
with an alarm row among the first ones (usually one), and the runner drains alarm rows on a second connection
when a NOTIFY arrives while a group is being evaluated (cloud/evaluation/runner.py).

If anything in a group fails, the group's transaction rolls back and its patients are evaluated one by one
the way a single patient is (`queue.evaluate_one`): the others are evaluated and committed, and only the
failing one is recorded as failed and retried with back-off.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from cloud.db.batch import Query
from cloud.evaluation.queue import Claim, claims_from, evaluate_all, evaluate_one

log = logging.getLogger(__name__)
GROUP_SIZE = 32  # queue rows taken at the head of the queue: the group is their patients (one per row at most)
# The head of the queue (alarm rows first, of alarm rows only when asked), and the patients of its alarm rows if
# it has any, else of all its rows; then every due row of those patients that no other worker holds. The head's
# rows are locked by this transaction, so the second lock finds them again.
_CLAIM = (
    "WITH head AS MATERIALIZED (SELECT patient_id, alarm FROM pending_evaluations WHERE retry_at <= now() "
    "AND (alarm OR NOT %(alarm_only)s) ORDER BY alarm DESC, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED), "
    "chosen AS (SELECT DISTINCT patient_id FROM head WHERE alarm OR NOT EXISTS (SELECT 1 FROM head WHERE alarm)) "
    "SELECT q.id, q.patient_id, q.metric, q.alarm, q.retry_at FROM pending_evaluations q "
    "WHERE q.patient_id IN (SELECT patient_id FROM chosen) AND q.retry_at <= now() "
    "ORDER BY q.alarm DESC, q.id FOR UPDATE OF q SKIP LOCKED"
)
# The evaluation locks of the patients (the key of cloud.evaluation.queue.claim), taken in the order of the keys.
_LOCK = (
    "SELECT count(pg_advisory_xact_lock(k)) AS locked FROM (SELECT DISTINCT "
    "hashtextextended('evaluate:' || p::text, 0) AS k FROM unnest(%b::uuid[]) AS p ORDER BY k) AS keys"
)

_DELETE = (
    "WITH gone AS (DELETE FROM pending_evaluations WHERE id = ANY(%b::int8[]) RETURNING 1) SELECT count(*) FROM gone"
)


async def claim_group(conn: AsyncConnection[Any], limit: int = GROUP_SIZE, alarm_only: bool = False) -> list[Claim]:
    """Lock the rows of the next group of patients (inside the caller's transaction), alarm patients first;
    empty when nothing is claimable. The patients' evaluation locks are not taken yet (`lock_read`)."""
    cur = await conn.execute(_CLAIM, {"limit": limit, "alarm_only": alarm_only})
    return claims_from(await cur.fetchall())


def lock_read(jobs: list[Claim]) -> Query:
    """The statement that takes the evaluation locks of the group's patients in a fixed order."""
    return Query(_LOCK, ([job.patient_id for job in jobs],))


def delete_read(jobs: list[Claim]) -> Query:
    """The statement that deletes the group's claimed rows (in its transaction: they come back if it rolls back)."""
    return Query(_DELETE, ([i for job in jobs for i in job.ids],))


async def evaluate_group(pool: AsyncConnectionPool, limit: int = GROUP_SIZE, alarm_only: bool = False) -> int | None:
    """Claim, evaluate and delete a group of patients' rows in one transaction; returns the patient evaluations
    done, None when nothing was claimable. A failure anywhere is retried patient by patient (module doc)."""
    async with pool.connection() as conn:
        jobs: list[Claim] = []
        try:
            async with conn.transaction():
                jobs = await claim_group(conn, limit, alarm_only)
                if not jobs:
                    return None
                # Never judge before a claimed row was due (as cloud.evaluation.queue.evaluate_one).
                started = time.time()
                nows = {job.patient_id: max(started, job.due) for job in jobs}
                # The claimed rows are deleted with the reads, in the same transaction as the transitions.
                await evaluate_all(conn, jobs, nows, before=[lock_read(jobs), delete_read(jobs)])
                return len(jobs)
        except Exception:
            if not jobs:  # nothing claimed: a database problem, for the caller to report
                raise
            if len(jobs) > 1:
                log.warning("group evaluation failed; evaluating its patients one by one", exc_info=True)
        done = 0
        for job in jobs:
            if await evaluate_one(conn, job.patient_id) is not None:
                done += 1
        return done
