"""Baseline proposals in the database: when one is due, computing it, and the nurse's decision.

A proposal is due for a patient in `trial` or `active` when no proposal waits and either none was ever
made and the first vital-sign reading is at least the trial period old (the trial period has ended), or the
newest decision's review date has come (the review is due). It learns from quiet days only: the readings of
the local days on which the patient had a clinical alert or episode open are left out, and so are readings
the device flagged as doubtful; the proposal keeps the days it left out (`left_out_days`). The due proposal
is itself the task: it waits on the nurse's worklist (`GET /api/v1/baselines/waiting`) until approved or
rejected, each with a reason and the next review date. Approval copies the limits into `rule_overrides` in
the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from alerts.personal import DEFAULT_K, METRICS, personal_rules, propose
from alerts.protocols.load import ProtocolError, apply_overrides
from alerts.protocols.schema import RuleOverride
from cloud.alert_store import history
from cloud.evaluation import inputs
from cloud.evaluation.protocols import protocol_for

log = logging.getLogger(__name__)
DEFAULT_TRIAL_DAYS: Final = 14
# A decision's review date lies after today and at most this many days ahead.
MAX_REVIEW_DAYS: Final = 366
PROPOSING_LIFECYCLES: Final = ("trial", "active")
Occasion = Literal["trial_ended", "review_due"]


def method(trial_days: int, k: float = DEFAULT_K) -> dict[str, Any]:
    """How the limits were computed, stored with each proposal."""
    return {
        "statistic": "median +- k * 1.4826 * MAD of the readings in the period",
        "k": k,
        "trial_days": trial_days,
        "floor": "never inside the band both the protocol and NEWS2 score 0",
        "ceiling": "never into the rule's red band",
        "left_out": "readings on Europe/Oslo days with an open clinical alert or episode, and doubtful readings",
        "source": "docs/detection.md#personal",
    }


async def propose_for(
    conn: AsyncConnection[Any], patient_id: UUID, now: datetime, trial_days: int, occasion: Occasion
) -> int | None:
    """Compute and store a proposal from the last `trial_days` days, leaving out the days with an open clinical
    alert; None when no rule has enough readings (nothing is stored then, so the next sweep tries again) or one
    already waits."""
    protocol = await protocol_for(conn, patient_id)
    rules = personal_rules(protocol)
    metrics = {rule.metrics[0]: trial_days for rule in rules}
    windows = {m: w.trusted() for m, w in (await inputs.windows(conn, patient_id, metrics, now.timestamp())).items()}
    start = now - timedelta(days=trial_days)
    alert_days = await history.clinical_alert_days(conn, patient_id, start, now)
    proposals, skipped = propose(protocol, {m: (w.times, w.values) for m, w in windows.items()}, left_out=alert_days)
    if not proposals:
        return None
    try:
        async with conn.transaction():
            row = await (
                await conn.execute(
                    "INSERT INTO baseline_proposals (patient_id, municipality_id, occasion, period_from, period_to, "
                    "method, rules, skipped, left_out_days) SELECT id, municipality_id, %s, %s, %s, %s, %s, %s, %s "
                    "FROM patients WHERE id = %s RETURNING id",
                    (
                        occasion,
                        start,
                        now,
                        Jsonb(method(trial_days)),
                        Jsonb([p.to_json() for p in proposals]),
                        Jsonb(skipped),
                        alert_days,
                        patient_id,
                    ),
                )
            ).fetchone()
    except UniqueViolation:
        return None  # another replica's sweep proposed first
    return None if row is None else int(row[0])


async def due(conn: AsyncConnection[Any], now: datetime, trial_days: int) -> list[tuple[UUID, Occasion]]:
    """Patients for whom a proposal is due, and why."""
    rows = await (
        await conn.execute(
            "SELECT p.id, latest.status FROM patients p LEFT JOIN LATERAL (SELECT status, review_by "
            "FROM baseline_proposals b WHERE b.patient_id = p.id ORDER BY b.id DESC LIMIT 1) latest ON true "
            "WHERE p.lifecycle = ANY(%s) AND CASE WHEN latest.status IS NULL THEN EXISTS (SELECT 1 FROM observations o "
            "WHERE o.patient_id = p.id AND o.metric = ANY(%s) AND o.t <= %s) "
            "ELSE latest.status <> 'proposed' AND latest.review_by <= (%s AT TIME ZONE 'Europe/Oslo')::date END",
            (list(PROPOSING_LIFECYCLES), list(METRICS), now - timedelta(days=trial_days), now),
        )
    ).fetchall()
    return [(row[0], "trial_ended" if row[1] is None else "review_due") for row in rows]


async def propose_due(
    pool: AsyncConnectionPool, now: datetime | None = None, trial_days: int = DEFAULT_TRIAL_DAYS
) -> int:
    """Make every due proposal; returns how many were stored. One patient's failure does not stop the rest."""
    moment = now or datetime.now(UTC)
    async with pool.connection() as conn:
        candidates = await due(conn, moment, trial_days)
    made = 0
    for patient_id, occasion in candidates:
        try:
            async with pool.connection() as conn:
                made += await propose_for(conn, patient_id, moment, trial_days, occasion) is not None
        except (ProtocolError, ValueError):
            log.exception("baseline proposal failed", extra={"patient_id": str(patient_id)})
    return made


@dataclass(frozen=True)
class Decision:
    """A nurse's decision on the waiting proposal."""

    approve: bool
    reason: str
    review_by: date
    by: UUID
    audit_id: int


class NothingWaitingError(LookupError):
    """The patient has no proposal waiting (or not the one named)."""


async def decide(conn: AsyncConnection[Any], patient_id: UUID, proposal_id: int, decision: Decision) -> dict[str, Any]:
    """Approve or reject the waiting proposal in one transaction; approval writes the rule overrides.

    Raises NothingWaitingError, or ProtocolError when the limits no longer fit the patient's protocol (the
    protocol changed since the proposal): nothing is written then.
    """
    async with conn.transaction():
        row = await (
            await conn.execute(
                "SELECT municipality_id, rules FROM baseline_proposals WHERE id = %s AND patient_id = %s "
                "AND status = 'proposed' FOR UPDATE",
                (proposal_id, patient_id),
            )
        ).fetchone()
        if row is None:
            raise NothingWaitingError(proposal_id)
        municipality_id, rules = row
        if decision.approve:
            overrides = [
                RuleOverride(
                    rule=rule["rule"],
                    params={"limits": rule["proposed"]},
                    reason=f"personal baseline #{proposal_id}: {decision.reason}",
                    set_by=str(decision.by),
                    review_by=decision.review_by,
                )
                for rule in rules
            ]
            # The limits must still fit the patient's protocol as it is now (built like any override).
            apply_overrides(await protocol_for(conn, patient_id), overrides)
            for override in overrides:
                await conn.execute(
                    "INSERT INTO rule_overrides (municipality_id, patient_id, rule, params, reason, set_by, review_by) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (municipality_id, patient_id, override.rule, Jsonb(override.params), override.reason,
                     decision.by, override.review_by),
                )  # fmt: skip
        decided = await (
            await conn.execute(
                "UPDATE baseline_proposals SET status = %s, decided_by = %s, decided_at = now(), reason = %s, "
                "review_by = %s, audit_id = %s WHERE id = %s RETURNING id",
                (
                    "approved" if decision.approve else "rejected",
                    decision.by,
                    decision.reason,
                    decision.review_by,
                    decision.audit_id,
                    proposal_id,
                ),
            )
        ).fetchone()
        assert decided is not None
    return {"id": proposal_id, "status": "approved" if decision.approve else "rejected"}
