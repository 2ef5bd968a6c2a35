"""What a nurse records at a home visit: vitals and the person's answers to the symptom questions and the
CAT, entered by hand (cloud/ingest/manual.py).

Only a nurse or team lead whose care team has the patient may enter them (`patient_access`, audited before
the handler runs; the audit record's id is stored with every reading). A refused value answers 422 with one
entry per field in the shape of FastAPI's validation errors (`loc`, `msg`, `type`), in the reader's language.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cloud.access.policy import PatientGrant, patient_access
from cloud.access.roles import Role
from cloud.ingest.manual import Entry, NotInServiceError, VitalsRefusedError, enter
from cloud.requests import Conn, ReaderOf

router = APIRouter(prefix="/api/v1/patients", tags=["visits"])
_Number = Annotated[float | None, Field(default=None, allow_inf_nan=False)]
# The CAT's answers in the test's order; their number and range are the service's to check and word.
_CatItems = Annotated[list[Annotated[float, Field(allow_inf_nan=False)] | None] | None, Field(max_length=64)]


class VitalsIn(BaseModel):
    """Vitals measured at a visit and symptom answers, any of them; units as in the metric catalogue.
    Breathlessness and swelling are scored 0 (none) to 4 (worst), well-being 0 (very poor) to 4 (very
    good); the CAT is its total (`cat`, 0-40) or its eight answers (`cat_items`, each 0-5), which are added up.
    `measured_at` defaults to now; it may not be in the future nor more than 24 hours ago."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "resp_rate": 18,
                    "spo2": 95,
                    "oxygen": False,
                    "bp_systolic": 132,
                    "bp_diastolic": 78,
                    "pulse": 84,
                    "consciousness": "A",
                    "temperature": 37.4,
                },
                {"dyspnoea": 2, "oedema": 1, "wellbeing": 2, "cat_items": [3, 2, 4, 3, 2, 3, 1, 2]},
            ]
        },
    )

    resp_rate: _Number = None
    spo2: _Number = None
    oxygen: bool | None = None
    bp_systolic: _Number = None
    bp_diastolic: _Number = None
    pulse: _Number = None
    consciousness: Annotated[str | None, Field(default=None, max_length=20)] = None
    temperature: _Number = None
    dyspnoea: _Number = None
    oedema: _Number = None
    wellbeing: _Number = None
    cat: _Number = None
    cat_items: _CatItems = None
    measured_at: AwareDatetime | None = None


class EnteredReading(BaseModel):
    """One stored reading: the metric, its value in the catalogue's unit (a level's index for ACVPU and
    oxygen, whose label is given too) and the unit."""

    metric: str
    value: float
    unit: str
    label: str | None


class VitalsOut(BaseModel):
    """What was stored, and when it was measured (UTC)."""

    measured_at: datetime
    readings: list[EnteredReading]


@router.post("/{patient_id}/vitals", status_code=201, responses={404: {}, 409: {}, 422: {}})
async def enter_vitals(
    body: VitalsIn,
    conn: Conn,
    reader: ReaderOf,
    grant: Annotated[PatientGrant, patient_access("vitals.enter", Role.NURSE, Role.TEAM_LEAD)],
) -> VitalsOut:
    """Store vitals and symptom answers from a home visit as `manual` readings; the rules evaluate them like
    any reading."""
    entry = Entry(values=body.model_dump(exclude={"measured_at"}), measured_at=body.measured_at)
    try:
        entered = await enter(
            conn,
            municipality_id=grant.principal.municipality_id,
            patient_id=grant.patient_id,
            entry=entry,
            by=grant.principal.id,
            audit_id=grant.audit_id,
        )
    except VitalsRefusedError as refused:
        detail = [
            {"loc": ["body", p.field], "msg": p.text(reader), "type": "value_error.vitals"} for p in refused.problems
        ]
        raise HTTPException(422, detail) from None
    except NotInServiceError as stopped:
        raise HTTPException(409, stopped.text(reader)) from None
    readings = [EnteredReading(metric=r.metric, value=r.value, unit=r.unit, label=r.label) for r in entered.readings]
    return VitalsOut(measured_at=entered.measured_at, readings=readings)
