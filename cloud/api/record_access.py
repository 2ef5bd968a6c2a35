"""Who may open a patient's record beyond the care team, and what the patient sees of it: emergency access
(break-the-glass) and its review, the patient's blocks (sperring), and the patient's access log.

- `POST /patients/{id}/emergency-access`: a staff member outside the care team opens the record for a reason
  from the configured list, for a few hours; with `override_block`, through the patient's block of them.
- `GET /emergency-access/reviews`, `POST /emergency-access/{id}/review`: team leads (their teams' patients)
  and municipality administrators (all) accept each grant or report it; pending first, overrides flagged.
- `GET|POST /patients/{id}/blocks`, `DELETE /patients/{id}/blocks/{block_id}`: a team lead or administrator
  with a care relation registers or lifts a block on the patient's behalf.
- `GET /patients/{id}/access-log`: the log as the patient reads it (`cloud/access/access_log.py`).

The services are `cloud.access.emergency`, `blocks` and `access_log`; each change is audited in its transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.wording.formats import Reader
from cloud.access import access_log, blocks, emergency
from cloud.access.blocks import AccessChangeError
from cloud.access.caller import refusal
from cloud.access.policy import (
    PatientGrant,
    PatientScopeFilter,
    actor,
    patient_access,
    patient_emergency,
    patient_search,
    staff_only,
)
from cloud.access.principal import Principal
from cloud.access.reasons import reason_text
from cloud.access.roles import ROLE_NAMES, Role
from cloud.requests import Conn, Paged, ReaderOf

router = APIRouter(prefix="/api/v1", tags=["record access"])
LEADS = (Role.TEAM_LEAD, Role.MUNICIPALITY_ADMIN)
ERRORS: dict[int | str, dict[str, Any]] = {403: {}, 404: {}, 409: {}, 422: {}}
EXAMPLE_ID = "00000000-0000-4000-8000-000000000000"


@contextmanager
def answering(request: Request) -> Iterator[None]:
    """A change the service refused answers with its status, in the reader's words; nothing was written."""
    try:
        yield
    except AccessChangeError as refused:
        raise refusal(request, refused.status, refused.message) from None


def _role(reader: Reader, role: str | None) -> str | None:
    return reader._(ROLE_NAMES[Role(role)]) if role in set(Role) else role


class EmergencyAccessIn(BaseModel):
    """A reason code from the configured list, a note for the reviewer (never shown to the patient), and
    `override_block` only where the patient has blocked the caller."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "acute_care", "note": "Ringt av legevakten"}]}
    )

    reason: str = Field(pattern=r"^[a-z_]{1,40}$")
    note: str = Field(default="", max_length=emergency.NOTE_MAX)
    override_block: bool = False


class GrantOut(BaseModel):
    """An emergency access grant: who, for whom, why, until when, and its review."""

    id: UUID
    patient_id: UUID
    patient_name: str
    staff_id: UUID
    staff_name: str
    staff_role: str
    staff_role_name: str | None
    reason: str
    reason_text: str
    note: str
    overrides_block: bool
    opened_at: datetime
    expires_at: datetime
    active: bool
    review: Literal["pending", "accepted", "reported"]
    reviewed_by: UUID | None
    reviewer_name: str | None
    reviewed_at: datetime | None
    review_note: str


def _grant(grant: emergency.Grant, reader: Reader) -> GrantOut:
    fields = {k: v for k, v in vars(grant).items() if k != "reason_code"}
    return GrantOut(
        **fields, reason=grant.reason_code, reason_text=reader._(reason_text(grant.reason_code)),
        staff_role_name=_role(reader, grant.staff_role),
    )  # fmt: skip


@router.post("/patients/{patient_id}/emergency-access", status_code=201, responses=ERRORS)
async def open_emergency_access(
    patient_id: UUID,
    body: EmergencyAccessIn,
    request: Request,
    conn: Conn,
    reader: ReaderOf,
    grant: Annotated[PatientGrant, patient_emergency("emergency.request")],
) -> GrantOut:
    """Open the record of a patient outside the caller's care teams for `TRYGGHEIM_EMERGENCY_ACCESS_HOURS`;
    the team lead reviews it and the patient sees it, with the reason, in their access log."""
    settings = request.app.state.settings
    with answering(request):
        opened = await emergency.open_grant(
            conn, actor(request, grant.principal), principal=grant.principal, patient_id=grant.patient_id,
            reason=body.reason, note=body.note, override_block=body.override_block,
            hours=settings.emergency_access_hours, reasons=settings.emergency_access_reasons,
        )  # fmt: skip
    return _grant(opened, reader)


@router.get("/emergency-access/reviews")
async def emergency_access_reviews(
    conn: Conn,
    reader: ReaderOf,
    scope: Annotated[PatientScopeFilter, patient_search("emergency.reviews", *LEADS)],
    page: Paged,
) -> list[GrantOut]:
    """Emergency access to the caller's teams' patients (administrators: the municipality's), pending first,
    then newest first; `overrides_block` marks a grant that went through the patient's block."""
    found = await emergency.reviews(
        conn, emergency.ReviewScope(scope.municipality_id, scope.team_ids, scope.hidden), limit=page.limit,
        offset=page.offset,
    )  # fmt: skip
    return [_grant(g, reader) for g in found]


class ReviewIn(BaseModel):
    """The review of one grant: `accepted` (the need was real) or `reported` (for follow-up)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"decision": "accepted"}]})

    decision: emergency.Decision
    note: str = Field(default="", max_length=emergency.NOTE_MAX)


@router.post("/emergency-access/{grant_id}/review", responses=ERRORS)
async def review_emergency_access(
    grant_id: UUID,
    body: ReviewIn,
    request: Request,
    conn: Conn,
    reader: ReaderOf,
    lead: Annotated[Principal, staff_only(*LEADS, audited="emergency.review")],
) -> GrantOut:
    """Accept or report a grant of the caller's review list, once; never one's own."""
    with answering(request):
        reviewed = await emergency.review(
            conn, actor(request, lead), reviewer=lead, grant_id=grant_id, decision=body.decision, note=body.note
        )
    return _grant(reviewed, reader)


class BlockIn(BaseModel):
    """Whom the patient blocks: one staff member or one care team of the municipality."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"staff_id": EXAMPLE_ID}]})

    staff_id: UUID | None = None
    care_team_id: UUID | None = None


class BlockOut(BaseModel):
    """A block, active or lifted, with who asked for it (`patient`, or `staff` on the patient's behalf)."""

    id: UUID
    staff_id: UUID | None
    staff_name: str | None
    care_team_id: UUID | None
    care_team_name: str | None
    requested_by: Literal["patient", "staff"]
    created_by: UUID | None
    created_at: datetime
    active: bool
    lifted_at: datetime | None
    lifted_on: Literal["patient", "staff"] | None
    lifted_by: UUID | None


def block_out(block: blocks.Block) -> BlockOut:
    return BlockOut(**{k: v for k, v in vars(block).items() if k != "patient_id"}, active=block.active)


@router.get("/patients/{patient_id}/blocks")
async def list_blocks(
    patient_id: UUID,
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("blocks.read", *LEADS, through_grants=False)],
) -> list[BlockOut]:
    """The patient's blocks, active first."""
    return [block_out(b) for b in await blocks.list_blocks(conn, grant.patient_id)]


@router.post("/patients/{patient_id}/blocks", status_code=201, responses=ERRORS)
async def add_block(
    patient_id: UUID,
    body: BlockIn,
    request: Request,
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("blocks.change", *LEADS, through_grants=False)],
) -> BlockOut:
    """Register the patient's block of a staff member or care team, on the patient's behalf."""
    with answering(request):
        block = await blocks.add_block(
            conn, actor(request, grant.principal), patient_id=grant.patient_id, staff_id=body.staff_id,
            care_team_id=body.care_team_id, requested_by="staff", staff_member=grant.principal.id,
        )  # fmt: skip
    return block_out(block)


@router.delete("/patients/{patient_id}/blocks/{block_id}", responses=ERRORS)
async def lift_block(
    patient_id: UUID,
    block_id: Annotated[UUID, Path(examples=[EXAMPLE_ID])],
    request: Request,
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("blocks.change", *LEADS, through_grants=False)],
) -> BlockOut:
    """Lift one of the patient's blocks, on the patient's behalf (the row stays, with who lifted it)."""
    with answering(request):
        block = await blocks.lift_block(
            conn, actor(request, grant.principal), patient_id=grant.patient_id, block_id=block_id,
            requested_by="staff", staff_member=grant.principal.id,
        )  # fmt: skip
    return block_out(block)


class AccessLogEntryOut(BaseModel):
    """One access to the patient's record: when, who (name, role and the care teams they acted in; a relative the
    patient invited, by the name the patient gave), read or write, and for emergency access the chosen reason
    (never the free-text note); `block_override` when it went through the patient's block."""

    id: int
    at: datetime
    staff_id: UUID | None
    display_name: str
    role: str | None
    role_name: str | None
    kind: Literal["read", "write"]
    action: str
    emergency: bool
    reason: str | None
    block_override: bool
    teams: str = ""


def log_entry_out(entry: access_log.AccessLogEntry, reader: Reader) -> AccessLogEntryOut:
    fields = {k: v for k, v in vars(entry).items() if k != "reason_code"}
    reason = reader._(reason_text(entry.reason_code)) if entry.reason_code else None
    return AccessLogEntryOut(**fields, role_name=_role(reader, entry.role), reason=reason)


@router.get("/patients/{patient_id}/access-log")
async def patient_access_log(
    patient_id: UUID,
    conn: Conn,
    reader: ReaderOf,
    grant: Annotated[PatientGrant, patient_access("access_log.read", *LEADS, through_grants=False)],
    since: Annotated[AwareDatetime | None, Query(description="Only accesses from this time on.")] = None,
    before_id: Annotated[int | None, Query(ge=1, description="`id` of the last entry of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=access_log.MAX_ENTRIES)] = 100,
) -> list[AccessLogEntryOut]:
    """Who has read or changed the patient's record, newest first, as the patient sees it."""
    found = await access_log.entries(conn, grant.patient_id, since=since, before_id=before_id, limit=limit)
    return [log_entry_out(e, reader) for e in found]
