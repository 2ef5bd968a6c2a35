"""The interoperability facts the API and pages show: a patient's PMD consent and what waits, an alert's
journaling to VKP. Routes call these; the stores own the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from cloud.interop.pmd import consents, shares
from cloud.interop.pmd.consents import PmdConsent
from cloud.interop.vkp import journal


async def pmd_sharing(conn: AsyncConnection[Any], patient_id: UUID) -> dict[str, Any]:
    """The patient's consent in force and the refused measurements still retried."""
    waiting = await shares.pending(conn, patient_id)
    return {"consent": await consents.live(conn, patient_id), **waiting}


async def give_consent(
    conn: AsyncConnection[Any], municipality_id: UUID, patient_id: UUID, note: str, given_at: datetime, by: UUID
) -> PmdConsent:
    """Record the patient's consent to share with PMD."""
    return await consents.record(
        conn, municipality_id=municipality_id, patient_id=patient_id, note=note, given_at=given_at, by=by
    )


async def withdraw_consent(conn: AsyncConnection[Any], patient_id: UUID, by: UUID) -> PmdConsent:
    """Record the withdrawal of the patient's consent, now."""
    return await consents.withdraw(conn, patient_id=patient_id, at=datetime.now(UTC), by=by)


async def journal_of(conn: AsyncConnection[Any], alert_id: int) -> dict[str, Any]:
    """Where the alert's journaling stands, with every attempt."""
    found = (await journal.states(conn, [alert_id])).get(alert_id)
    if found is None:
        return {"state": "not_journaled", "alert_code": None, "journaled_at": None, "next_attempt_at": None,
                "last_error": None, "attempts": []}  # fmt: skip
    state = "journaled" if found.journaled_at else "failed" if found.failed else "waiting"
    return {
        "state": state,
        "alert_code": found.alert_code,
        "journaled_at": found.journaled_at,
        "next_attempt_at": None if found.journaled_at else found.next_attempt_at,
        "last_error": found.last_error,
        "attempts": await journal.attempts_of(conn, alert_id),
    }


async def backlog(conn: AsyncConnection[Any]) -> dict[str, int]:
    """What waits after failures, for the metrics: VKP documents that failed and PMD entries refused."""
    return {"vkp_failing": await journal.failing(conn), "pmd_waiting": await shares.refused_waiting(conn)}
