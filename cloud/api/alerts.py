"""A patient's alerts as the patient page shows them; snooze, acknowledge and resolve an open alert. The reads
and the actions are the triage service's (`cloud.worklist`), which the web pages call too."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from cloud.access.policy import PatientGrant, alert_access, patient_access
from cloud.api.triage import actor_of
from cloud.requests import Conn
from cloud.worklist import actions, triage
from cloud.worklist.actions import MAX_SNOOZE_MINUTES
from cloud.worklist.models import AlertOut, PatientAlerts

router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.get("/patients/{patient_id}/alerts")
async def patient_alerts(
    patient_id: UUID, conn: Conn, grant: Annotated[PatientGrant, patient_access("alerts.read")]
) -> PatientAlerts:
    """The patient's open and recent alerts, newest first."""
    return await triage.patient_alerts(conn, grant.patient_id)


class SnoozeRequest(BaseModel):
    """Stop re-notification of an open alert for a while; it stays open and keeps counting repeats."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"minutes": 60}]})

    minutes: int = Field(ge=1, le=MAX_SNOOZE_MINUTES)


@router.post("/alerts/{alert_id}/snooze", responses={404: {}, 409: {}})
async def snooze_alert(
    alert_id: int, body: SnoozeRequest, conn: Conn, grant: Annotated[PatientGrant, alert_access("alerts.snooze")]
) -> AlertOut:
    """Snooze an open alert until now + `minutes` (recorded as a `snoozed` transition)."""
    return await actions.snooze(conn, alert_id, actor_of(grant), body.minutes)


@router.post("/alerts/{alert_id}/acknowledge", responses={404: {}, 409: {}})
async def acknowledge_alert(
    alert_id: int, conn: Conn, grant: Annotated[PatientGrant, alert_access("alerts.acknowledge")]
) -> AlertOut:
    """Someone has seen the alert and takes it; escalation stops climbing."""
    return await actions.acknowledge(conn, alert_id, actor_of(grant))


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
    return await actions.resolve(conn, alert_id, actor_of(grant), body.resolution)
