"""A patient's alerts as the patient page shows them; snooze, acknowledge and resolve an open alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from cloud.access.policy import PatientGrant, alert_access, patient_access
from cloud.api.deps import Conn
from cloud.escalation.timeline import after_action

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


async def _act(
    conn: Conn, grant: PatientGrant, alert_id: int, *, changes: str, values: tuple[Any, ...], event: str, message: str
) -> AlertOut:
    """Change an open alert and log the transition in one transaction (the audit record is already written)."""
    async with conn.transaction():
        row = await (
            await conn.execute(
                f"UPDATE alerts SET {changes}, updated_at = now() WHERE id = %s AND resolved_at IS NULL "  # noqa: S608
                f"RETURNING {_COLUMNS}",
                (*values, alert_id),
            )
        ).fetchone()
        if row is None:
            raise HTTPException(409, "The alert is already resolved.")
        alert = AlertOut(**dict(zip(AlertOut.model_fields, row, strict=True)))
        detail = {"by": str(grant.principal.id), "audit_id": grant.audit_id}
        await conn.execute(
            "INSERT INTO alert_transitions (alert_id, patient_id, rule, event, alert_class, severity, at, notify, "
            "suppressed_by, last_input_at, message, detail) VALUES (%s, %s, %s, %s, %s, %s, now(), false, "
            "%s, %s, %s, %s)",
            (alert.id, grant.patient_id, alert.rule, event, alert.alert_class, alert.severity,
             "snoozed" if event == "snoozed" else None, alert.last_input_at, message, Jsonb(detail)),
        )  # fmt: skip
        await after_action(conn, alert.id, event)
        if event == "resolved" and alert.last_input_at is not None:
            # What was resolved by a person is handled: the same input does not open the alert again.
            await conn.execute(
                "INSERT INTO alert_handled (patient_id, rule, handled_until) VALUES (%s, %s, %s) ON CONFLICT "
                "(patient_id, rule) DO UPDATE SET handled_until = greatest(alert_handled.handled_until, "
                "EXCLUDED.handled_until)",
                (grant.patient_id, alert.rule, alert.last_input_at),
            )
    return alert


@router.post("/alerts/{alert_id}/snooze", responses={404: {}, 409: {}})
async def snooze_alert(
    alert_id: int, body: SnoozeRequest, conn: Conn, grant: Annotated[PatientGrant, alert_access("alerts.snooze")]
) -> AlertOut:
    """Snooze an open alert until now + `minutes` (recorded as a `snoozed` transition)."""
    until = datetime.now(UTC) + timedelta(minutes=body.minutes)
    return await _act(
        conn, grant, alert_id, changes="snoozed_until = %s", values=(until,), event="snoozed",
        message=f"snoozed for {body.minutes} min",
    )  # fmt: skip


@router.post("/alerts/{alert_id}/acknowledge", responses={404: {}, 409: {}})
async def acknowledge_alert(
    alert_id: int, conn: Conn, grant: Annotated[PatientGrant, alert_access("alerts.acknowledge")]
) -> AlertOut:
    """Someone has seen the alert and takes it; escalation stops climbing."""
    return await _act(
        conn, grant, alert_id,
        changes="state = 'acknowledged', acknowledged_at = coalesce(acknowledged_at, now()), "
        "acknowledged_by = coalesce(acknowledged_by, %s)",
        values=(grant.principal.id,), event="acknowledged", message="acknowledged",
    )  # fmt: skip


class ResolveRequest(BaseModel):
    """How the alert ended; alarm-class alerts are only ever closed this way, by a person."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"resolution": "resolved by phone: pressed by mistake"}]}
    )

    resolution: str = Field(min_length=3, max_length=500)


@router.post("/alerts/{alert_id}/resolve", responses={404: {}, 409: {}})
async def resolve_alert(
    alert_id: int, body: ResolveRequest, conn: Conn, grant: Annotated[PatientGrant, alert_access("alerts.resolve")]
) -> AlertOut:
    """Close the alert with a resolution."""
    return await _act(
        conn, grant, alert_id,
        changes="state = 'resolved', resolved_at = now(), resolved_by = %s, resolution = %s",
        values=(grant.principal.id, body.resolution), event="resolved", message=f"resolved: {body.resolution}",
    )  # fmt: skip
