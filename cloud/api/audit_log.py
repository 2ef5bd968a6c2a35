"""The audit log as auditors read it; each read is itself audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from cloud.access import audit
from cloud.access.policy import staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.requests import Conn, correlation_id

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Auditor = Annotated[Principal, staff_only(Role.AUDITOR)]


class AuditEntry(BaseModel):
    """One audit record."""

    id: int
    at: datetime
    principal_kind: str
    principal_id: str | None
    role: str | None
    patient_id: UUID | None
    action: str
    resource: str
    reason: str
    outcome: str
    correlation_id: str


@router.get("")
async def read_audit(
    request: Request,
    conn: Conn,
    auditor: Auditor,
    patient_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> list[AuditEntry]:
    """Records of the auditor's municipality, newest first, optionally for one patient."""
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
    rows = await (
        await conn.execute(
            "SELECT id, at, principal_kind, principal_id, role, patient_id, action, resource, reason, outcome, "
            "correlation_id FROM audit_log WHERE municipality_id = %s AND (%s::uuid IS NULL OR patient_id = %s) "
            "AND (%s::bigint IS NULL OR id < %s) ORDER BY id DESC LIMIT %s",
            (auditor.municipality_id, patient_id, patient_id, before_id, before_id, limit),
        )
    ).fetchall()
    return [AuditEntry(**dict(zip(AuditEntry.model_fields, r, strict=True))) for r in rows]
