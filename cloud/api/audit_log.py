"""The audit log as auditors read it; each read is itself audited."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from cloud.access import audit
from cloud.access.policy import staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.requests import Conn, correlation_id

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Auditor = Annotated[Principal, staff_only(Role.AUDITOR)]


@router.get("")
async def read_audit(
    request: Request,
    conn: Conn,
    auditor: Auditor,
    patient_id: UUID | None = None,
    person: Annotated[str | None, Query(max_length=200, description="A principal id (a staff member's id).")] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> list[audit.AuditEntry]:
    """Records of the auditor's municipality, newest first, optionally of one patient, one person, one action,
    within `[since, until)`."""
    await audit.write(
        conn,
        audit.AuditRecord(
            municipality_id=auditor.municipality_id,
            principal_kind=auditor.kind,
            principal_id=str(auditor.id),
            role=str(auditor.role),
            team_ids=sorted(auditor.team_ids),
            patient_id=patient_id,
            action="audit.read",
            resource=str(request.url.path),
            outcome="allowed",
            correlation_id=correlation_id(request),
        ),
    )
    where = audit.AuditFilter(person=person, action=action, since=since, until=until)
    return await audit.newest_entries(
        conn, auditor.municipality_id, patient_id=patient_id, before_id=before_id, limit=limit, where=where
    )
