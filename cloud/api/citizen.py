"""The citizen's own record (`/api/v1/citizen/...`): signed in through ID-porten at `idporten-loa-high`, bound to the
record by national id, and never anyone else's (`policy.own_record`). Every read is audited like a nurse's,
with the citizen as the principal. The citizen's pages come with the web pages for citizens; these are the
answers they are built on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from cloud.access.policy import PatientGrant, own_record
from cloud.api.patients import ConsentOut, PatientDetails, consent_out
from cloud.registry import consent
from cloud.registry import patients as registry
from cloud.requests import Conn

router = APIRouter(prefix="/api/v1/citizen", tags=["citizen"])


@router.get("/record")
async def my_record(conn: Conn, grant: Annotated[PatientGrant, own_record("patient.read_own")]) -> PatientDetails:
    """The signed-in citizen's own record, as their care team sees it."""
    return PatientDetails(**await registry.details(conn, grant.patient_id))


@router.get("/consents")
async def my_consents(conn: Conn, grant: Annotated[PatientGrant, own_record("consent.read_own")]) -> list[ConsentOut]:
    """The citizen's consent and assessment records, newest first."""
    return [consent_out(r) for r in await consent.list_for(conn, grant.patient_id)]
