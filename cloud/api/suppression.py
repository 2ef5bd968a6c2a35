"""Nurse actions that tell detection what not to notify: a patient's pause and per-rule silences.

Detection decides and records the suppression when a rule would trigger (docs/detection.md, "Suppression");
these routes only store the decision's inputs (through the alert store), each behind the patient's scope check
and audit record.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.access.policy import PatientGrant, patient_access
from cloud.alert_store import suppression
from cloud.api.free_text import Reason
from cloud.evaluation.protocols import protocol_for
from cloud.requests import Conn

router = APIRouter(prefix="/api/v1/patients", tags=["alerts"])


class PauseRequest(BaseModel):
    """A pause (hospital stay): from `starts_at` (default now) until `until` (open-ended when null)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Innlagt på sykehus", "until": None}]})

    reason: Reason
    starts_at: datetime | None = None
    until: datetime | None = None

    @model_validator(mode="after")
    def _aware_and_ordered(self) -> PauseRequest:
        for moment in (self.starts_at, self.until):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError("times need a UTC offset")
        if self.until is not None and self.until <= (self.starts_at or datetime.now(UTC)):
            raise ValueError("`until` must be after the start")
        return self


class SilenceRequest(BaseModel):
    """Block new alerts of one rule for this patient for `minutes`; a reason is required."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"rule": "ge.temperature", "minutes": 120, "reason": "Kjent infeksjon"}]}
    )

    rule: Annotated[str, Field(min_length=1, max_length=200)]
    minutes: int = Field(ge=1, le=30 * 24 * 60)
    reason: Reason


class Created(BaseModel):
    """The stored row's id and its end."""

    id: int
    until: datetime | None


@router.post("/{patient_id}/pause", status_code=201, responses={422: {}})
async def pause_patient(
    patient_id: UUID, body: PauseRequest, conn: Conn, grant: Annotated[PatientGrant, patient_access("alerts.pause")]
) -> Created:
    """Pause the patient's vitals rules; alarms and liveness keep running, and a reminder comes at the end."""
    stored = await suppression.add_pause(
        conn,
        grant.patient_id,
        starts_at=body.starts_at,
        until=body.until,
        reason=body.reason.strip(),
        set_by=grant.principal.id,
    )
    return Created(id=stored.id, until=stored.until)


@router.post("/{patient_id}/silences", status_code=201, responses={422: {}})
async def silence_rule(
    patient_id: UUID, body: SilenceRequest, conn: Conn, grant: Annotated[PatientGrant, patient_access("alerts.silence")]
) -> Created:
    """Silence one of the patient's rules until now + `minutes`; alarm rules cannot be silenced."""
    rules = (await protocol_for(conn, grant.patient_id)).by_id()
    if body.rule not in rules:
        raise HTTPException(422, f"The patient's protocol has no rule {body.rule!r}.")
    if rules[body.rule].alarm:
        raise HTTPException(422, "Alarm-class rules are never silenced: a press of the alarm always reaches a person.")
    until = datetime.now(UTC) + timedelta(minutes=body.minutes)
    stored = await suppression.add_silence(
        conn, grant.patient_id, rule=body.rule, until=until, reason=body.reason.strip(), set_by=grant.principal.id
    )
    return Created(id=stored.id, until=stored.until)
