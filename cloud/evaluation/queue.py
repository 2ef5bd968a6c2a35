"""The pending-evaluation queue one patient per transaction, safe with any number of workers; the evaluation of
any number of patients (`evaluate_all`), which the drain by groups (cloud/evaluation/drain.py) shares.

A worker claims the oldest claimable row (alarm rows first) with `FOR UPDATE SKIP LOCKED`, then every other
unlocked row of the same patient, and takes the patient's advisory lock so that two workers holding rows of
the same patient evaluate one after the other; the second then sees the first one's alerts. The rows are
deleted in the transaction that applies the transitions: if the process dies before the commit, the rows
come back and another process evaluates them. The partial unique index on open alerts backs all this up.

A row may be due later (`retry_at`): a failed evaluation's retry, or the end of a rule's wait for a new
measurement after a doubtful reading, queued in the evaluation that asked for it, so the rule judges again
when the wait is over even if nothing arrives. A row is claimed only once due, also with the patient's others.

`evaluate_all` reads what it needs for all its patients in two round trips, one statement per kind of data
for all of them (lifecycle and protocol, overrides, alert state; then the reading windows and the devices,
which depend on the rules to judge), and judges each patient as of their own moment. The drain by groups uses
one patient per transaction (`evaluate_one`) for the patients of a group that failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from alerts.evaluate import LivenessFacts, evaluate_patient
from alerts.explain import Level
from alerts.lifecycle import Event, Transition
from alerts.protocols.model import Protocol
from cloud.alert_store import store
from cloud.db.batch import GENERIC_PLANS, Query, run_batch
from cloud.evaluation import group_inputs, inputs, state
from cloud.evaluation.protocols import OVERRIDES, SETTINGS, build

log = logging.getLogger(__name__)
EVALUATION_RULE = "evaluation"  # the rule named by a failure of the evaluation itself (not of one detector)
MAX_RETRY_S = 300
ACTIVE_LIFECYCLES = ("trial", "active", "paused")
_NO_DEVICES = LivenessFacts()  # a patient judged with no rules needs none


@dataclass(frozen=True)
class Claim:
    """The rows one worker holds for one patient."""

    patient_id: UUID
    ids: tuple[int, ...]
    metrics: frozenset[str]
    scheduled: bool  # a sweep row: evaluate the clock-driven rules
    alarm: bool
    due: float = 0.0  # the latest `retry_at` among the rows (Unix seconds)


async def claim(conn: AsyncConnection[Any], patient_id: UUID | None = None) -> Claim | None:
    """Lock the next patient's rows, or `patient_id`'s, inside the caller's transaction; None when nothing is
    claimable."""
    if patient_id is None:
        first = await (
            await conn.execute(
                "SELECT patient_id FROM pending_evaluations WHERE retry_at <= now() ORDER BY alarm DESC, id "
                "LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
        ).fetchone()
        if first is None:
            return None
        patient_id = first[0]
    rows = await (
        await conn.execute(
            "SELECT id, patient_id, metric, alarm, retry_at FROM pending_evaluations WHERE patient_id = %s "
            "AND retry_at <= now() FOR UPDATE SKIP LOCKED",
            (patient_id,),
        )
    ).fetchall()
    if not rows:
        return None
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"evaluate:{patient_id}",))
    return claims_from(rows)[0]


def claims_from(rows: Iterable[tuple[Any, ...]]) -> list[Claim]:
    """Claimed rows `(id, patient_id, metric, alarm, retry_at)` as one `Claim` per patient, in the rows' order."""
    by: dict[UUID, list[tuple[Any, ...]]] = {}
    for row in rows:
        by.setdefault(row[1], []).append(row)
    return [
        Claim(
            patient_id=patient_id,
            ids=tuple(r[0] for r in mine),
            metrics=frozenset(r[2] for r in mine if r[2] is not None),
            scheduled=any(r[2] is None for r in mine),
            alarm=any(r[3] for r in mine),
            due=max(r[4].timestamp() for r in mine),
        )
        for patient_id, mine in by.items()
    ]


async def evaluate(conn: AsyncConnection[Any], job: Claim, now: float) -> tuple[Transition, ...]:
    """Evaluate the rules the claimed rows ask for and apply the transitions (caller's transaction).

    A patient outside the service (referral, discharged, deceased) is not evaluated: the rows are dropped.
    """
    return (await evaluate_all(conn, [job], {job.patient_id: now}))[job.patient_id]


async def evaluate_all(
    conn: AsyncConnection[Any], jobs: Sequence[Claim], nows: Mapping[UUID, float], before: Sequence[Query] = ()
) -> dict[UUID, tuple[Transition, ...]]:
    """`evaluate` for several patients, each as of their own moment, in the caller's transaction: the reads of
    all of them in two round trips (the statements of `before`, such as their locks, sent first), then each
    patient's rules and transitions in turn.

    The first round trip reads what decides which rules a patient's rows ask for (protocol, overrides) and their
    alert state; the second only what those rules read: the reading windows, and the devices and gateways of
    the patients with any rule to judge. A patient whose new readings no rule of theirs reads (a scale's weight
    under a protocol without a weight rule) is judged with no rules, which only reminds of an ended pause: their
    devices are not read (in the realistic ingest benchmark, every patient; docs/benchmarks.md, issue 25)."""
    ids = [job.patient_id for job in jobs]
    # The reads take arrays whose length varies with the group; their generic plans (and those of the locks and
    # deletions in `before`) are the same index scans per patient that a custom plan would make, at about 0.5 ms
    # of planning a statement less.
    reads = [Query(SETTINGS, (ids,)), Query(OVERRIDES, (ids,)), *state.state_reads(nows)]
    answers = await run_batch(conn, [GENERIC_PLANS, *before, *reads])
    settings_rows, override_rows, *state_answers = answers[len(before) + 1 :]
    overrides: dict[UUID, list[dict[str, Any]]] = {p: [] for p in ids}
    for row in override_rows:
        overrides[row["for_patient"]].append(row)
    plans = _plans(jobs, {row["id"]: row for row in settings_rows}, overrides)
    states = state.states_from(ids, state_answers)
    judged = {p: nows[p] for p, plan in plans.items() if plan[1]}
    wanted = {p: (plan[2], nows[p]) for p, plan in plans.items() if plan[2]}
    second = [group_inputs.devices_read(judged)] if judged else []
    second += [group_inputs.windows_read(wanted)] if wanted else []
    found = await run_batch(conn, second) if second else []
    facts = group_inputs.liveness_from(judged, found[0] if judged else [])
    windows = group_inputs.windows_from(ids, found[-1] if wanted else [])
    done: dict[UUID, tuple[Transition, ...]] = dict.fromkeys(ids, ())
    for patient_id, (protocol, rules, _) in plans.items():
        result = evaluate_patient(
            protocol, states[patient_id], windows[patient_id], facts.get(patient_id, _NO_DEVICES),
            nows[patient_id], rules=rules,
        )  # fmt: skip
        await state.apply(conn, patient_id, protocol, result.transitions)
        await _after_waits(conn, patient_id, result.transitions)
        done[patient_id] = result.transitions
        await asyncio.sleep(0)  # let an alarm drain of this process run between two patients (runner.py)
    return done


def _plans(
    jobs: Sequence[Claim], settings: Mapping[UUID, dict[str, Any]], overrides: Mapping[UUID, list[dict[str, Any]]]
) -> dict[UUID, tuple[Protocol, set[str], dict[str, int]]]:
    """Per patient in the service: the protocol in force, the rules the claimed rows ask for, and the days of
    each metric those rules read."""
    plans: dict[UUID, tuple[Protocol, set[str], dict[str, int]]] = {}
    for job in jobs:
        found = settings.get(job.patient_id)
        if found is None or found["lifecycle"] not in ACTIVE_LIFECYCLES:
            continue
        protocol = build(found, overrides[job.patient_id])
        rules = set(protocol.rules_for_metrics(job.metrics))
        if job.scheduled:
            rules |= set(protocol.scheduled_rules())
        by_rule = {rule.id: rule.metrics for rule in protocol.rules}
        plans[job.patient_id] = (protocol, rules, inputs.metrics_of(rules, protocol.window_days(), by_rule))
    return plans


async def _after_waits(conn: AsyncConnection[Any], patient_id: UUID, transitions: Iterable[Transition]) -> None:
    """Queue a rule's second look at the end of each wait for a new measurement (caller's transaction)."""
    for t in transitions:
        if t.event is not Event.REMEASURE_REQUESTED:
            continue
        metric, until = t.explanation.get("metric"), t.explanation.get("wait_until")
        if isinstance(metric, str) and isinstance(until, int | float):
            await enqueue_at(conn, patient_id, metric, until)


async def enqueue_at(conn: AsyncConnection[Any], patient_id: UUID, metric: str, at: float) -> None:
    """Queue an evaluation of the patient's rules on `metric` that is not claimed before `at` (Unix seconds)."""
    await conn.execute(
        "INSERT INTO pending_evaluations (patient_id, metric, retry_at) VALUES (%s, %s, %s)",
        (patient_id, metric, datetime.fromtimestamp(at, UTC)),
    )


async def evaluate_one(conn: AsyncConnection[Any], patient_id: UUID | None = None) -> Claim | None:
    """Claim, evaluate and delete the next patient's rows, or `patient_id`'s, in one transaction; None when
    there were none to claim.

    When the evaluation itself fails (not one detector: those are reported by `evaluate_patient`), the rows
    are kept for a retry with back-off and the failure is recorded as a `detector_failed` transition.
    """
    job: Claim | None = None
    try:
        async with conn.transaction():
            job = await claim(conn, patient_id)
            if job is None:
                return None
            # Never judge before a claimed row was due: a wait queued to end at `retry_at` is over then, even
            # if this process's clock is a little behind the database's.
            await evaluate(conn, job, max(time.time(), job.due))
            await conn.execute("DELETE FROM pending_evaluations WHERE id = ANY(%s)", (list(job.ids),))
            return job
    except Exception as exc:
        if job is None:  # nothing claimed: a database problem, for the caller to report
            raise
        log.exception("evaluation failed", extra={"patient_id": str(job.patient_id)})
        await _postpone(conn, job, exc)
        return job


async def _postpone(conn: AsyncConnection[Any], job: Claim, exc: Exception) -> None:
    failure = Transition(
        event=Event.DETECTOR_FAILED,
        rule=EVALUATION_RULE,
        alert_class="data_quality",
        severity=Level.YELLOW,
        at=time.time(),
        message=f"evaluation failed: {type(exc).__name__}: {exc}"[:500],
        notify=False,
        explanation={"error": repr(exc)[:2000], "queued_rows": len(job.ids)},
    )
    async with conn.transaction():
        await store.record(conn, job.patient_id, None, failure)
        await conn.execute(
            "UPDATE pending_evaluations SET attempts = attempts + 1, retry_at = now() + "
            "make_interval(secs => least(%s, 5 * 2 ^ attempts)) WHERE id = ANY(%s)",
            (MAX_RETRY_S, list(job.ids)),
        )


async def enqueue_sweep(pool: AsyncConnectionPool) -> int:
    """Queue the clock-driven rules of every active patient; returns the rows queued.

    Safe on every replica at once: the advisory lock lets one replica sweep at a time (the others skip this
    tick), and a patient that still has a sweep row waiting gets no second one.
    """
    async with pool.connection() as conn, conn.transaction():
        locked = await (
            await conn.execute("SELECT pg_try_advisory_xact_lock(hashtextextended('evaluation:sweep', 0))")
        ).fetchone()
        if not (locked and locked[0]):
            return 0
        cur = await conn.execute(
            "INSERT INTO pending_evaluations (patient_id, metric) SELECT p.id, NULL FROM patients p "
            "WHERE p.lifecycle = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pending_evaluations q "
            "WHERE q.patient_id = p.id AND q.metric IS NULL)",
            (list(ACTIVE_LIFECYCLES),),
        )
        return cur.rowcount
