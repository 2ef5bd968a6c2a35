"""The citizen's own record (`/api/v1/citizen/...`): signed in through ID-porten at `idporten-loa-high`, bound to the
record by national id, and never anyone else's (`policy.own_record`). Every read is audited like a nurse's,
with the citizen as the principal. Besides their record: who has opened it (the access log, with the reason of
any emergency access), and their blocks (sperring) of named staff or care teams, which they add and lift
themselves. Their own view (measurements in words, the questions of the day), the relatives they invited and
what a relative reads of the patients who invited them (`/following`, `relative_record`): the answers the
citizens' pages (`/me`, `/relative`) are built on."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import AwareDatetime

from cloud.access import access_log, blocks, relatives
from cloud.access.policy import PatientGrant, actor, own_record, relative_record, relative_self
from cloud.access.principal import Principal
from cloud.api.own_view import (
    AnswersIn,
    FollowedOut,
    OwnViewOut,
    RelativeIn,
    RelativeOut,
    own_view_out,
    relative_out,
)
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
from cloud.ingest.manual import NotInServiceError, VitalsRefusedError
from cloud.registry import consent
from cloud.registry import patients as registry
from cloud.registry.errors import ConflictError
from cloud.requests import Conn, ReaderOf
from cloud.worklist.own_view import answer_questions, own_view

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


@router.get("/overview")
async def my_overview(
    conn: Conn, reader: ReaderOf, grant: Annotated[PatientGrant, own_record("patient.read_own")]
) -> OwnViewOut:
    """The citizen's newest measurements with what they mean in words, their course over 30 days, when to
    measure next and whether the day's questions are answered."""
    record = await registry.details(conn, grant.patient_id)
    return own_view_out(await own_view(conn, grant.patient_id, record["display_name"]), reader)


@router.post("/answers", status_code=201, responses={409: {}, 422: {}})
async def answer_my_questions(
    body: AnswersIn, conn: Conn, reader: ReaderOf, grant: Annotated[PatientGrant, own_record("answers.enter_own")]
) -> OwnViewOut:
    """Answer the day's questions (all three at once; the week's lung questions with them when due). A second
    set the same day is refused (409), not replaced; a bad answer refuses them all, field by field (422)."""
    try:
        await answer_questions(
            conn, municipality_id=grant.principal.municipality_id, patient_id=grant.patient_id,
            values=body.model_dump(), audit_id=grant.audit_id,
        )  # fmt: skip
    except VitalsRefusedError as refused:
        detail = [
            {"loc": ["body", p.field], "msg": p.text(reader), "type": "value_error.answer"} for p in refused.problems
        ]
        raise HTTPException(422, detail) from None
    except NotInServiceError as stopped:
        raise HTTPException(409, stopped.text(reader)) from None
    except ConflictError as refused:
        raise HTTPException(409, reader._(str(refused))) from None
    record = await registry.details(conn, grant.patient_id)
    return own_view_out(await own_view(conn, grant.patient_id, record["display_name"]), reader)


@router.get("/relatives")
async def my_relatives(
    conn: Conn, grant: Annotated[PatientGrant, own_record("relatives.read_own")]
) -> list[RelativeOut]:
    """The relatives the citizen has invited to read their view, live ones first (never their national id)."""
    return [relative_out(r) for r in await relatives.of_patient(conn, grant.patient_id)]


@router.post("/relatives", status_code=201, responses=ERRORS)
async def invite_relative(
    body: RelativeIn, request: Request, conn: Conn, grant: Annotated[PatientGrant, own_record("relatives.change_own")]
) -> RelativeOut:
    """Invite a named relative to read the citizen's view (not their questions): the citizen's recorded consent,
    until they withdraw it."""
    with answering(request):
        person = relatives.checked_national_id(
            body.national_id, allow_synthetic=request.app.state.settings.allow_synthetic_ids
        )
        found = await relatives.invite(
            conn, actor(request, grant.principal), patient_id=grant.patient_id, display_name=body.name, person=person
        )
    return relative_out(found)


@router.delete("/relatives/{relative_id}", responses=ERRORS)
async def revoke_relative(
    relative_id: Annotated[UUID, Path(examples=[EXAMPLE_ID])],
    request: Request,
    conn: Conn,
    grant: Annotated[PatientGrant, own_record("relatives.change_own")],
) -> RelativeOut:
    """Withdraw a relative's access, at once: their next request is refused."""
    with answering(request):
        found = await relatives.revoke(
            conn, actor(request, grant.principal), patient_id=grant.patient_id, relative_id=relative_id
        )
    return relative_out(found)


@router.get("/following")
async def following(
    conn: Conn, principal: Annotated[Principal, relative_self("relatives.read_following")]
) -> list[FollowedOut]:
    """The patients whose view the signed-in relative may read now."""
    return [
        FollowedOut(patient_id=f.patient_id, name=f.patient_name)
        for f in await relatives.followed_by(conn, principal.id)
    ]


@router.get("/following/{patient_id}/overview")
async def followed_overview(
    conn: Conn, reader: ReaderOf, grant: Annotated[PatientGrant, relative_record("patient.read_as_relative")]
) -> OwnViewOut:
    """What the patient who invited the signed-in relative sees of their measurements and answers (the questions
    are the patient's to answer)."""
    record = await registry.details(conn, grant.patient_id)
    view = own_view_out(await own_view(conn, grant.patient_id, record["display_name"]), reader)
    return view.model_copy(update={"questions_due_today": False, "weekly_questions_due": False})
