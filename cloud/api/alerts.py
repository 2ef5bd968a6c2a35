"""A patient's alerts as the patient page shows them; snooze, acknowledge and resolve an open alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from alerts.wording import Reader
from cloud.access.policy import PatientGrant, alert_access, patient_access
from cloud.alert_store import store
from cloud.alert_store.records import Actor
from cloud.escalation.timeline import after_action
from cloud.requests import Conn, ReaderOf

router = APIRouter(prefix="/api/v1", tags=["alerts"])
RECENT_DAYS = 30
RECENT_LIMIT = 100


class AlertOut(BaseModel):
    """One alert with everything needed to explain it (rule, parameters, inputs, computed values)."""

    id: int
    rule: str
    alert_class: str
    severity: str
    state: str
    opened_at: datetime
    updated_at: datetime
    last_input_at: datetime | None
    repeats: int
    message: str
    explanation: dict[str, Any]
    last_value: dict[str, Any]
    snoozed_until: datetime | None
    resolved_at: datetime | None


class SuppressionOut(BaseModel):
    """A would-be alert that detection recorded instead of notifying, and why."""

    rule: str
    suppressed_by: str
    at: datetime
    message: str


class PatientAlerts(BaseModel):
    """Open alerts, alerts resolved in the last 30 days, and recent suppressions."""

    open: list[AlertOut]
    recent: list[AlertOut]
    suppressed: list[SuppressionOut]


_COLUMNS = ", ".join(AlertOut.model_fields)


@router.get("/patients/{patient_id}/alerts")
async def patient_alerts(
    patient_id: UUID, conn: Conn, grant: Annotated[PatientGrant, patient_access("alerts.read")]
) -> PatientAlerts:
    """The patient's open and recent alerts, newest first."""
    since = datetime.now(UTC) - timedelta(days=RECENT_DAYS)
    found = await (
        await conn.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE patient_id = %s "  # noqa: S608 - fixed columns
            "AND (resolved_at IS NULL OR resolved_at > %s) ORDER BY opened_at DESC, id DESC LIMIT %s",
            (grant.patient_id, since, RECENT_LIMIT),
        )
    ).fetchall()
    alerts = [AlertOut(**dict(zip(AlertOut.model_fields, row, strict=True))) for row in found]
    suppressed = await (
        await conn.execute(
            "SELECT rule, suppressed_by, at, message FROM alert_transitions WHERE patient_id = %s "
            "AND event = 'suppressed' AND at > %s ORDER BY id DESC LIMIT %s",
            (grant.patient_id, since, RECENT_LIMIT),
        )
    ).fetchall()
    return PatientAlerts(
        open=[a for a in alerts if a.resolved_at is None],
        recent=[a for a in alerts if a.resolved_at is not None],
        suppressed=[SuppressionOut(**dict(zip(SuppressionOut.model_fields, row, strict=True))) for row in suppressed],
    )


class SnoozeRequest(BaseModel):
    """Stop re-notification of an open alert for a while; it stays open and keeps counting repeats."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"minutes": 60}]})

    minutes: int = Field(ge=1, le=7 * 24 * 60)


def _actor(grant: PatientGrant) -> Actor:
    return Actor(by=grant.principal.id, audit_id=grant.audit_id)


def _answer(row: dict[str, Any] | None, reader: Reader) -> AlertOut:
    if row is None:
        raise HTTPException(409, reader._("The alert is already resolved."))
    return AlertOut(**{name: row[name] for name in AlertOut.model_fields})


@router.post("/alerts/{alert_id}/snooze", responses={404: {}, 409: {}})
async def snooze_alert(
    alert_id: int,
    body: SnoozeRequest,
    conn: Conn,
    reader: ReaderOf,
    grant: Annotated[PatientGrant, alert_access("alerts.snooze")],
) -> AlertOut:
    """Snooze an open alert until now + `minutes` (recorded as a `snoozed` transition)."""
    async with conn.transaction():
        row = await store.snooze(conn, alert_id, _actor(grant), body.minutes)
        alert = _answer(row, reader)
        await after_action(conn, alert.id, "snoozed")
    return alert


@router.post("/alerts/{alert_id}/acknowledge", responses={404: {}, 409: {}})
async def acknowledge_alert(
    alert_id: int, conn: Conn, reader: ReaderOf, grant: Annotated[PatientGrant, alert_access("alerts.acknowledge")]
) -> AlertOut:
    """Someone has seen the alert and takes it; escalation stops climbing."""
    async with conn.transaction():
        alert = _answer(await store.acknowledge(conn, alert_id, _actor(grant)), reader)
        await after_action(conn, alert.id, "acknowledged")
    return alert


class ResolveRequest(BaseModel):
    """How the alert ended; alarm-class alerts are only ever closed this way, by a person."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"resolution": "resolved by phone: pressed by mistake"}]}
    )

    resolution: str = Field(min_length=3, max_length=500)


@router.post("/alerts/{alert_id}/resolve", responses={404: {}, 409: {}})
async def resolve_alert(
    alert_id: int,
    body: ResolveRequest,
    conn: Conn,
    reader: ReaderOf,
    grant: Annotated[PatientGrant, alert_access("alerts.resolve")],
) -> AlertOut:
    """Close the alert with a resolution."""
    async with conn.transaction():
        alert = _answer(await store.resolve(conn, alert_id, _actor(grant), body.resolution), reader)
        await after_action(conn, alert.id, "resolved")
    return alert
