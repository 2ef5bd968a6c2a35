"""The nurse's triage API: the worklist, an alert's detail, comments, outcomes and notifications. Live updates
are in `cloud.api.worklist_events`; snooze, acknowledge and resolve in `cloud.api.alerts`.

`GET /alerts/{id}`, the link in escalation e-mails, is the web layer's (`cloud.web.alert`): it answers a
browser with the page and an API client with the same JSON as `GET /api/v1/alerts/{id}`.

Every route goes through the access-policy layer: the worklist and its live stream through `patient_search`
(one audit record, the caller's scope applied as a filter), single alerts through `alert_access`. The reads
and the actions are the triage service's (`cloud.worklist`), which the web pages call too.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cloud.access.policy import PatientGrant, PatientScopeFilter, alert_access, patient_search, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.alert_store.records import Actor
from cloud.api.free_text import Comment
from cloud.requests import Conn, ReaderOf, reader_of
from cloud.worklist import actions, triage
from cloud.worklist.actions import ActionRefusedError, CareOutcome
from cloud.worklist.models import AlertDetail, DeadLetter, NotificationOut, Worklist

router = APIRouter(tags=["triage"])
SeverityName = Literal["red", "yellow"]


async def refused(request: Request, exc: Exception) -> JSONResponse:
    """The answer to an action the triage service refused, whichever route asked: its status and message.
    The exception has left the action's transaction, so nothing was written."""
    status, message = (exc.status, exc.message) if isinstance(exc, ActionRefusedError) else (422, str(exc))
    return JSONResponse({"detail": reader_of(request)._(message)}, status_code=status)


@router.get("/api/v1/worklist")
async def worklist(
    conn: Conn,
    reader: ReaderOf,
    scope: Annotated[PatientScopeFilter, patient_search("worklist.read")],
    severity: Annotated[SeverityName | None, Query()] = None,
    alert_class: Annotated[Literal["clinical", "liveness", "data_quality"] | None, Query()] = None,
    state: Annotated[Literal["triggered", "acknowledged"] | None, Query()] = None,
    team_id: UUID | None = None,
) -> Worklist:
    """Open alerts sorted by severity (red first) then age (oldest first), grouped per patient; each alert's
    `title` and `sentence` are in the language of Accept-Language (bokmål first)."""
    only = triage.WorklistFilter(severity=severity, alert_class=alert_class, state=state, team_id=team_id)
    return await triage.worklist(conn, scope, only, reader)


@router.get("/api/v1/alerts/{alert_id}", responses={404: {}})
async def alert_detail(
    alert_id: int, conn: Conn, reader: ReaderOf, grant: Annotated[PatientGrant, alert_access("alerts.read")]
) -> AlertDetail:
    """The alert with its explanation, its `title` and `sentence` in the language of Accept-Language, recent
    readings of its metrics, notifications and notes with their authors' names."""
    return await triage.alert_detail(conn, alert_id, grant.patient_id, reader)


@router.get("/api/v1/alerts/{alert_id}/notifications", responses={404: {}})
async def alert_notifications(
    alert_id: int, conn: Conn, grant: Annotated[PatientGrant, alert_access("alerts.read")]
) -> list[NotificationOut]:
    """The alert's notifications, one per step, with every delivery attempt (receipts and errors)."""
    return await triage.notifications(conn, alert_id)


class CommentRequest(BaseModel):
    """A free-text note on the alert (kept with the alert, not in the journal)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"body": "Ringte, ingen svar"}]})

    body: Comment


class Created(BaseModel):
    """The stored row's id."""

    id: int


def actor_of(grant: PatientGrant) -> Actor:
    """The person acting on the alert, with the audit record that let them."""
    return Actor(by=grant.principal.id, audit_id=grant.audit_id)


@router.post("/api/v1/alerts/{alert_id}/comments", status_code=201, responses={404: {}})
async def comment_alert(
    alert_id: int, body: CommentRequest, conn: Conn, grant: Annotated[PatientGrant, alert_access("alerts.comment")]
) -> Created:
    """Add a comment (open or resolved alerts alike)."""
    return Created(id=await actions.comment(conn, alert_id, actor_of(grant), body.body))


class OutcomeRequest(BaseModel):
    """What was done, and when it happened (default: now)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"outcome": "on_site", "note": "Pasienten satt i stolen"}]}
    )

    outcome: CareOutcome
    at: AwareDatetime | None = None
    note: str | None = Field(default=None, max_length=2000)


@router.post("/api/v1/alerts/{alert_id}/outcomes", status_code=201, responses={404: {}, 409: {}, 422: {}})
async def record_outcome(
    alert_id: int, body: OutcomeRequest, conn: Conn, grant: Annotated[PatientGrant, alert_access("alerts.outcome")]
) -> Created:
    """Record an outcome; `resolved_by_phone`, `done` and `false_alarm` also resolve the alert."""
    outcome_id = await actions.record_outcome(conn, alert_id, actor_of(grant), body.outcome, body.at, body.note)
    return Created(id=outcome_id)


@router.get("/api/v1/notifications/dead")
async def dead_letters(
    conn: Conn,
    principal: Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD, Role.RESPONSE_CENTRE)],
) -> list[DeadLetter]:
    """Dead-lettered notifications of the caller's municipality, newest first."""
    return await triage.dead_letters(conn, principal.municipality_id)
