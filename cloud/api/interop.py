"""What the platform sends to the national services, seen from the patient and the alert: the patient's consent
to share measurements with PMD (record, withdraw, what waits), and an alert's journaling to VKP.

The consent is the patient's own decision, recorded by the nurse who obtained it; without one nothing of the
patient's goes to PMD even when the municipality has a PMD client. Every read and change is audited by its
access policy like any other patient data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, ConfigDict

from cloud.access.policy import PatientGrant, alert_access, patient_access
from cloud.access.roles import Role
from cloud.api.free_text import Note
from cloud.interop import status
from cloud.interop.pmd.consents import ConsentError, PmdConsent
from cloud.requests import Conn
from cloud.worklist.models import JournalOut

router = APIRouter(prefix="/api/v1", tags=["interop"])
CARERS = (Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD, Role.NURSE)


class PmdConsentIn(BaseModel):
    """How the patient consented, and when (now when left out)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "Samtykke gitt muntlig ved hjemmebesøk"}]}
    )

    note: Note
    given_at: AwareDatetime | None = None


class PmdSharingOut(BaseModel):
    """The patient's consent in force (none: nothing is shared) and the measurements PMD has refused so far
    that are still being retried, with the last reason."""

    consent: PmdConsent | None
    waiting: int
    last_error: str | None


class JournalAttemptOut(BaseModel):
    """One attempt to journal an alert."""

    at: datetime
    ok: bool
    status: int | None
    detail: str


class JournalDetailOut(JournalOut):
    """The alert's journaling with every attempt."""

    attempts: list[JournalAttemptOut]


@router.get("/patients/{patient_id}/pmd-sharing")
async def pmd_sharing(conn: Conn, grant: Annotated[PatientGrant, patient_access("pmd.read")]) -> PmdSharingOut:
    """The patient's PMD consent and what waits to be shared."""
    return PmdSharingOut(**(await status.pmd_sharing(conn, grant.patient_id)))


@router.post("/patients/{patient_id}/pmd-sharing/consent", status_code=201)
async def give_pmd_consent(
    body: PmdConsentIn, conn: Conn, grant: Annotated[PatientGrant, patient_access("pmd.consent", *CARERS)]
) -> PmdConsent:
    """Record the patient's consent; measurements stored from then on are shared (409 when one is in force)."""
    try:
        return await status.give_consent(
            conn, grant.principal.municipality_id, grant.patient_id, body.note, body.given_at or datetime.now(UTC),
            grant.principal.id,
        )  # fmt: skip
    except ConsentError as refused:
        raise HTTPException(409, str(refused)) from None


@router.post("/patients/{patient_id}/pmd-sharing/withdraw")
async def withdraw_pmd_consent(
    conn: Conn, grant: Annotated[PatientGrant, patient_access("pmd.withdraw", *CARERS)]
) -> PmdConsent:
    """Record the withdrawal of the consent: nothing more is shared, refused entries are no longer retried
    (404 when there is no consent in force)."""
    try:
        return await status.withdraw_consent(conn, grant.patient_id, grant.principal.id)
    except ConsentError as refused:
        raise HTTPException(404, str(refused)) from None


@router.get("/alerts/{alert_id}/journal")
async def alert_journal(
    alert_id: int, conn: Conn, grant: Annotated[PatientGrant, alert_access("alert.journal")]
) -> JournalDetailOut:
    """The alert's journaling to VKP: its state, the code it was filed under and every attempt."""
    return JournalDetailOut(**(await status.journal_of(conn, alert_id)))
