"""The nurse's triage API: the worklist, an alert's detail, comments, outcomes and notifications. Live updates
are in `cloud.api.worklist_events`; snooze, acknowledge and resolve in `cloud.api.alerts`.

Every route goes through the access-policy layer: the worklist and its live stream through `patient_search`
(one audit record, the caller's scope applied as a filter), single alerts through `alert_access`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from psycopg.rows import class_row
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cloud.access.policy import PatientGrant, PatientScopeFilter, alert_access, patient_search, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.alert_store import store
from cloud.alert_store.records import Actor
from cloud.api.alerts import AlertOut
from cloud.escalation.timeline import after_action, observe
from cloud.evaluation.protocols import protocol_for
from cloud.requests import Conn

router = APIRouter(tags=["triage"])
SeverityName = Literal["red", "yellow"]
READINGS_HOURS = 72
READINGS_LIMIT = 200
_ALERT_COLUMNS = ", ".join(f"a.{name}" for name in AlertOut.model_fields)


class WorklistAlert(AlertOut):
    """An open alert in the worklist, with its event class and escalation position."""

    event_class: str | None
    next_step: int | None
    acknowledged_at: datetime | None


class PatientGroup(BaseModel):
    """One patient's open alerts, most urgent first, with counts."""

    patient_id: UUID
    display_name: str
    care_team_id: UUID | None
    counts: dict[str, int]
    alerts: list[WorklistAlert]


class Worklist(BaseModel):
    """Open alerts of the caller's teams grouped per patient; patients ordered by their most urgent alert."""

    total: int
    patients: list[PatientGroup]


@router.get("/api/v1/worklist")
async def worklist(
    conn: Conn,
    scope: Annotated[PatientScopeFilter, patient_search("worklist.read")],
    severity: Annotated[SeverityName | None, Query()] = None,
    alert_class: Annotated[Literal["clinical", "liveness", "data_quality"] | None, Query()] = None,
    state: Annotated[Literal["triggered", "acknowledged"] | None, Query()] = None,
    team_id: UUID | None = None,
) -> Worklist:
    """Open alerts sorted by severity (red first) then age (oldest first), grouped per patient."""
    teams = None if scope.team_ids is None else [*scope.team_ids]
    found = await (
        await conn.execute(
            f"SELECT {_ALERT_COLUMNS}, a.escalation->>'event_class', a.next_step, a.acknowledged_at, "  # noqa: S608
            "p.id, p.display_name, p.care_team_id FROM alerts a JOIN patients p ON p.id = a.patient_id "
            "WHERE a.resolved_at IS NULL AND p.municipality_id = %(town)s "
            "AND (%(teams)s::uuid[] IS NULL OR p.care_team_id = ANY(%(teams)s::uuid[])) "
            "AND (%(severity)s::text IS NULL OR a.severity = %(severity)s) "
            "AND (%(cls)s::text IS NULL OR a.alert_class = %(cls)s) "
            "AND (%(state)s::text IS NULL OR a.state = %(state)s) "
            "AND (%(team)s::uuid IS NULL OR p.care_team_id = %(team)s) "
            "ORDER BY (a.severity = 'red') DESC, a.opened_at, a.id",
            {
                "town": scope.municipality_id,
                "teams": teams,
                "severity": severity,
                "cls": alert_class,
                "state": state,
                "team": team_id,
            },
        )
    ).fetchall()
    groups: dict[UUID, PatientGroup] = {}
    width = len(AlertOut.model_fields)
    for row in found:
        fields = dict(zip(AlertOut.model_fields, row[:width], strict=True))
        alert = WorklistAlert(
            **fields, event_class=row[width], next_step=row[width + 1], acknowledged_at=row[width + 2]
        )
        patient_id, name, team = row[width + 3 :]
        group = groups.setdefault(
            patient_id, PatientGroup(patient_id=patient_id, display_name=name, care_team_id=team, counts={}, alerts=[])
        )
        group.alerts.append(alert)
        for key in ("total", alert.severity, alert.state):
            group.counts[key] = group.counts.get(key, 0) + 1
    return Worklist(total=len(found), patients=list(groups.values()))


class AlertReading(BaseModel):
    """One stored reading of the alert's metrics."""

    metric: str
    value: float
    unit: str
    t: datetime
    received_at: datetime
    stored_at: datetime


class NotificationOut(BaseModel):
    """One notification of the alert (one per step) with its delivery attempts."""

    id: int
    step: int
    kind: str
    channel: str
    target: str
    idempotency_key: UUID
    status: str
    attempts: int
    due_at: datetime
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    receipt: dict[str, Any] | None
    history: list[dict[str, Any]]


class Note(BaseModel):
    """A comment or an outcome on the alert."""

    kind: str
    text: str
    at: datetime
    by: UUID


class AlertDetail(BaseModel):
    """Everything a nurse needs to act on an alert: what fired and why, recent readings, the chain so far,
    the per-alert timestamps, and what people have written and done."""

    alert: AlertOut
    patient_id: UUID
    event_class: str | None
    policy: str | None
    timestamps: dict[str, datetime | None]
    readings: list[AlertReading]
    notifications: list[NotificationOut]
    notes: list[Note]


_MARKS = ("device_event_at", "gateway_received_at", "cloud_committed_at", "opened_at", "first_notified_at",
          "acknowledged_at", "on_site_at", "resolved_at")  # fmt: skip


async def _notifications(conn: Conn, alert_id: int) -> list[NotificationOut]:
    fields = [name for name in NotificationOut.model_fields if name != "history"]
    rows = await (
        await conn.execute(
            f"SELECT {', '.join(fields)} FROM notifications WHERE alert_id = %s ORDER BY step",  # noqa: S608
            (alert_id,),
        )
    ).fetchall()
    attempts = await (
        await conn.execute(
            "SELECT t.notification_id, t.at, t.ok, t.detail, t.process FROM notification_attempts t "
            "JOIN notifications n ON n.id = t.notification_id WHERE n.alert_id = %s ORDER BY t.id",
            (alert_id,),
        )
    ).fetchall()
    history: dict[int, list[dict[str, Any]]] = {}
    for nid, at, ok, detail, process in attempts:
        history.setdefault(nid, []).append({"at": at, "ok": ok, "detail": detail, "process": process})
    out = []
    for row in rows:
        values = dict(zip(fields, row, strict=True))
        out.append(NotificationOut(**values, history=history.get(values["id"], [])))
    return out


@router.get("/alerts/{alert_id}", summary="An alert (the link in e-mails and webhooks)", responses={404: {}})
@router.get("/api/v1/alerts/{alert_id}", responses={404: {}})
async def alert_detail(
    alert_id: int, conn: Conn, grant: Annotated[PatientGrant, alert_access("alerts.read")]
) -> AlertDetail:
    """The alert with its explanation, recent readings of its metrics, notifications and notes."""
    marks = ", ".join(_MARKS)
    cur = await conn.execute(
        f"SELECT {_ALERT_COLUMNS}, a.escalation, {marks} FROM alerts a WHERE a.id = %s",  # noqa: S608
        (alert_id,),
    )
    row = await cur.fetchone()
    assert row is not None  # alert_access has checked that it exists
    width = len(AlertOut.model_fields)
    alert = AlertOut(**dict(zip(AlertOut.model_fields, row[:width], strict=True)))
    escalation = row[width] or {}
    rule = (await protocol_for(conn, grant.patient_id)).by_id().get(alert.rule)
    metrics = list(rule.metrics) if rule is not None else []
    since = min(alert.opened_at, datetime.now(UTC)) - timedelta(hours=READINGS_HOURS)
    cur = conn.cursor(row_factory=class_row(AlertReading))
    await cur.execute(
        "SELECT metric, value, unit, t, received_at, stored_at FROM observations WHERE patient_id = %s "
        "AND metric = ANY(%s) AND t > %s ORDER BY t DESC LIMIT %s",
        (grant.patient_id, metrics, since, READINGS_LIMIT),
    )
    readings = await cur.fetchall()
    notes = await (
        await conn.execute(
            "SELECT 'comment', body, created_at, author FROM alert_comments WHERE alert_id = %s UNION ALL "
            "SELECT 'outcome:' || outcome, coalesce(note, ''), at, recorded_by FROM alert_outcomes "
            "WHERE alert_id = %s ORDER BY 3",
            (alert_id, alert_id),
        )
    ).fetchall()
    return AlertDetail(
        alert=alert,
        patient_id=grant.patient_id,
        event_class=escalation.get("event_class"),
        policy=(escalation.get("policy") or {}).get("name"),
        timestamps=dict(zip(_MARKS, row[width + 1 :], strict=True)),
        readings=readings,
        notifications=await _notifications(conn, alert_id),
        notes=[Note(kind=k, text=t, at=at, by=by) for k, t, at, by in notes],
    )


@router.get("/api/v1/alerts/{alert_id}/notifications", responses={404: {}})
async def alert_notifications(
    alert_id: int, conn: Conn, grant: Annotated[PatientGrant, alert_access("alerts.read")]
) -> list[NotificationOut]:
    """The alert's notifications, one per step, with every delivery attempt (receipts and errors)."""
    return await _notifications(conn, alert_id)


class CommentRequest(BaseModel):
    """A free-text note on the alert (kept with the alert, not in the journal)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"body": "Ringte, ingen svar"}]})

    body: str = Field(min_length=1, max_length=2000, pattern=r"\S")


class Created(BaseModel):
    """The stored row's id."""

    id: int


def _actor(grant: PatientGrant) -> Actor:
    return Actor(by=grant.principal.id, audit_id=grant.audit_id)


@router.post("/api/v1/alerts/{alert_id}/comments", status_code=201, responses={404: {}})
async def comment_alert(
    alert_id: int, body: CommentRequest, conn: Conn, grant: Annotated[PatientGrant, alert_access("alerts.comment")]
) -> Created:
    """Add a comment (open or resolved alerts alike)."""
    async with conn.transaction():
        comment_id = await store.comment(conn, alert_id, _actor(grant), body.body.strip())
        await after_action(conn, alert_id, "commented")
    return Created(id=comment_id)


CareOutcome = Literal["resolved_by_phone", "visit_dispatched", "on_site", "done", "false_alarm"]
# Outcomes that end the alert: the nurse records what happened and closes it in one step.
CLOSING: frozenset[str] = frozenset({"resolved_by_phone", "done", "false_alarm"})


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
    at = body.at or datetime.now(UTC)
    if at > datetime.now(UTC) + timedelta(minutes=5):
        raise HTTPException(422, "An outcome cannot be in the future.")
    async with conn.transaction():
        opened = await (
            await conn.execute("SELECT opened_at, resolved_at FROM alerts WHERE id = %s FOR UPDATE", (alert_id,))
        ).fetchone()
        assert opened is not None
        if at < opened[0] - timedelta(minutes=5):
            raise HTTPException(422, "An outcome cannot be before the alert opened.")
        if opened[1] is not None and body.outcome in CLOSING:
            raise HTTPException(409, "The alert is already resolved.")
        actor = _actor(grant)
        outcome_id = await store.outcome(conn, alert_id, actor, body.outcome, at, body.note)
        if body.outcome == "on_site":
            await observe(conn, alert_id, "on_site_at", "on_site")
        if body.outcome in CLOSING:
            await store.resolve(conn, alert_id, actor, body.outcome, at)
        await after_action(conn, alert_id, "resolved" if body.outcome in CLOSING else "outcome")
    return Created(id=outcome_id)


class DeadLetter(BaseModel):
    """A notification that could not be delivered (no patient data: ids, channel, target, error)."""

    id: int
    alert_id: int
    step: int
    channel: str
    target: str
    attempts: int
    last_error: str | None
    created_at: datetime


@router.get("/api/v1/notifications/dead")
async def dead_letters(
    conn: Conn,
    principal: Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD, Role.RESPONSE_CENTRE)],
) -> list[DeadLetter]:
    """Dead-lettered notifications of the caller's municipality, newest first."""
    rows = await (
        await conn.execute(
            "SELECT n.id, n.alert_id, n.step, n.channel, n.target, n.attempts, n.last_error, n.created_at "
            "FROM notifications n JOIN alerts a ON a.id = n.alert_id JOIN patients p ON p.id = a.patient_id "
            "WHERE n.status = 'dead' AND p.municipality_id = %s ORDER BY n.id DESC LIMIT 500",
            (principal.municipality_id,),
        )
    ).fetchall()
    return [DeadLetter(**dict(zip(DeadLetter.model_fields, r, strict=True))) for r in rows]
