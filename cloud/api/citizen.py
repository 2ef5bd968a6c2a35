"""The citizen's own record (`/api/v1/citizen/...`): signed in through ID-porten at `idporten-loa-high`, bound to the
record by national id, and never anyone else's (`policy.own_record`). Every read is audited like a nurse's,
with the citizen as the principal. Besides their record: who has opened it (the access log, with the reason of
any emergency access), and their blocks (sperring) of named staff or care teams, which they add and lift
themselves. The citizen's pages come with the web pages for citizens; these are the answers they are built on."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime

from cloud.access import access_log, blocks
from cloud.access.policy import PatientGrant, actor, own_record
from cloud.api.patients import ConsentOut, PatientDetails, consent_out
from cloud.api.record_access import (
    ERRORS,
    EXAMPLE_ID,
    AccessLogEntryOut,
    BlockIn,
    BlockOut,
    answering,
    block_out,
    log_entry_out,
)
from cloud.registry import consent
from cloud.registry import patients as registry
from cloud.requests import Conn, ReaderOf

router = APIRouter(prefix="/api/v1/citizen", tags=["citizen"])


@router.get("/record")
async def my_record(conn: Conn, grant: Annotated[PatientGrant, own_record("patient.read_own")]) -> PatientDetails:
    """The signed-in citizen's own record, as their care team sees it."""
    return PatientDetails(**await registry.details(conn, grant.patient_id))


@router.get("/consents")
async def my_consents(conn: Conn, grant: Annotated[PatientGrant, own_record("consent.read_own")]) -> list[ConsentOut]:
    """The citizen's consent and assessment records, newest first."""
    return [consent_out(r) for r in await consent.list_for(conn, grant.patient_id)]


@router.get("/access-log")
async def my_access_log(
    conn: Conn,
    reader: ReaderOf,
    grant: Annotated[PatientGrant, own_record("access_log.read_own")],
    since: Annotated[AwareDatetime | None, Query(description="Only accesses from this time on.")] = None,
    before_id: Annotated[int | None, Query(ge=1, description="`id` of the last entry of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=access_log.MAX_ENTRIES)] = 100,
) -> list[AccessLogEntryOut]:
    """Who has read or changed the citizen's record, newest first: names, roles, and for emergency access the
    reason chosen from the list (never a free-text note)."""
    found = await access_log.entries(conn, grant.patient_id, since=since, before_id=before_id, limit=limit)
    return [log_entry_out(e, reader) for e in found]


@router.get("/blocks")
async def my_blocks(conn: Conn, grant: Annotated[PatientGrant, own_record("blocks.read_own")]) -> list[BlockOut]:
    """The citizen's blocks (sperring), active first."""
    return [block_out(b) for b in await blocks.list_blocks(conn, grant.patient_id)]


@router.post("/blocks", status_code=201, responses=ERRORS)
async def block_someone(
    body: BlockIn, request: Request, conn: Conn, grant: Annotated[PatientGrant, own_record("blocks.change_own")]
) -> BlockOut:
    """Block a staff member or a care team of the municipality from the citizen's record."""
    with answering(request):
        block = await blocks.add_block(
            conn, actor(request, grant.principal), patient_id=grant.patient_id, staff_id=body.staff_id,
            care_team_id=body.care_team_id, requested_by="patient",
        )  # fmt: skip
    return block_out(block)


@router.delete("/blocks/{block_id}", responses=ERRORS)
async def lift_my_block(
    block_id: Annotated[UUID, Path(examples=[EXAMPLE_ID])],
    request: Request,
    conn: Conn,
    grant: Annotated[PatientGrant, own_record("blocks.change_own")],
) -> BlockOut:
    """Lift one of the citizen's blocks (the row stays, with who lifted it)."""
    with answering(request):
        block = await blocks.lift_block(
            conn, actor(request, grant.principal), patient_id=grant.patient_id, block_id=block_id,
            requested_by="patient",
        )  # fmt: skip
    return block_out(block)
