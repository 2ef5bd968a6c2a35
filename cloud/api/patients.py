"""Patient records: the list and page the worklist shows, and the registry's writes (create, change,
lifecycle, consents per supervision sensor, release of quarantined readings).

The national identity number is shown masked in lists and in full only on the audited patient page.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cloud.access.policy import PatientGrant, PatientScopeFilter, patient_access, patient_search, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.api.free_text import Note, Reason
from cloud.api.registry import ERRORS
from cloud.registry import consent, release
from cloud.registry import patients as registry
from cloud.registry.identity import mask
from cloud.requests import Conn, Paged

router = APIRouter(prefix="/api/v1/patients", tags=["patients"])
LEADS = (Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD)
CARERS = (Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD, Role.NURSE)


class PatientSummary(BaseModel):
    """A patient as listed (identity number masked)."""

    id: UUID
    display_name: str
    lifecycle: str
    care_team_id: UUID | None
    created_at: datetime
    home_id: UUID | None
    national_id_masked: str | None


def _summary(row: dict[str, Any]) -> PatientSummary:
    number = row.pop("national_id")
    return PatientSummary(**row, national_id_masked=mask(number) if number else None)


@router.get("")
async def list_patients(
    conn: Conn,
    scope: Annotated[PatientScopeFilter, patient_search("patient.search")],
    page: Paged,
) -> list[PatientSummary]:
    """Patients the caller may see: her care teams' (nurses) or the municipality's (admins, response centre)."""
    found = await registry.listing(conn, scope.municipality_id, scope.team_ids, page.limit, page.offset, scope.hidden)
    return [_summary(r) for r in found]


class ContactIn(BaseModel):
    """Next of kin or another person to call, in the order given."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    relation: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=3, max_length=40)
    next_of_kin: bool = False
    note: str = Field(default="", max_length=500)


class GeneralPractitioner(BaseModel):
    """The patient's GP (fastlege)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    office: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)


class PatientIn(BaseModel):
    """A new patient; `national_id` is a fødselsnummer or D-number (11 digits, check digits verified)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"display_name": "Kari Nordmann", "phone": "+47 900 00 000",
                                         "lifecycle": "referral"}]},
    )  # fmt: skip

    display_name: str = Field(min_length=1, max_length=200)
    national_id: str | None = Field(default=None, min_length=11, max_length=13)
    phone: str | None = Field(default=None, min_length=3, max_length=40)
    home_id: UUID | None = None
    care_team_id: UUID | None = None
    gp: GeneralPractitioner | None = None
    contacts: list[ContactIn] = Field(default_factory=list, max_length=20)
    lifecycle: Literal["referral", "trial", "active"] = "referral"


class PatientChange(BaseModel):
    """Fields to change; `contacts` replaces the whole list; `clear` sets the named fields to null."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"phone": "+47 900 00 003"}]})

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    national_id: str | None = Field(default=None, min_length=11, max_length=13)
    phone: str | None = Field(default=None, min_length=3, max_length=40)
    home_id: UUID | None = None
    care_team_id: UUID | None = None
    gp: GeneralPractitioner | None = None
    contacts: list[ContactIn] | None = Field(default=None, max_length=20)
    clear: list[Literal["phone", "home_id", "care_team_id", "national_id"]] = Field(default_factory=list, max_length=4)


def _fields(body: PatientIn | PatientChange) -> registry.PatientFields:
    contacts = None if body.contacts is None else [registry.Contact(**c.model_dump()) for c in body.contacts]
    return registry.PatientFields(
        display_name=body.display_name,
        national_id=body.national_id,
        phone=body.phone,
        home_id=body.home_id,
        care_team_id=body.care_team_id,
        gp=body.gp.model_dump() if body.gp else None,
        contacts=contacts,
        clear=set(getattr(body, "clear", ())),
    )


def _synthetic(request: Request) -> bool:
    return bool(request.app.state.settings.allow_synthetic_ids)


@router.post("", status_code=201, responses=ERRORS)
async def create_patient(
    body: PatientIn,
    request: Request,
    conn: Conn,
    admin: Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, audited="patient.create")],
) -> dict[str, UUID]:
    """Register a patient with contacts (one transaction: all of it or nothing)."""
    patient_id = await registry.create(
        conn, municipality_id=admin.municipality_id, fields=_fields(body), lifecycle=body.lifecycle,
        allow_synthetic=_synthetic(request), by=admin.id,
    )  # fmt: skip
    return {"id": patient_id}


class Contact(BaseModel):
    """A contact as stored."""

    name: str
    relation: str
    phone: str
    next_of_kin: bool
    note: str


class LifecycleEvent(BaseModel):
    """One change of the service lifecycle."""

    from_state: str
    to_state: str
    reason: str
    at: datetime


class PatientDetails(BaseModel):
    """The patient page: identity, phone, GP, team, home, contacts and lifecycle history."""

    id: UUID
    display_name: str
    national_id: str | None
    national_id_kind: str | None
    phone: str | None
    gp: dict[str, Any]
    lifecycle: str
    care_team_id: UUID | None
    care_team: str | None
    home_id: UUID | None
    created_at: datetime
    updated_at: datetime
    contacts: list[Contact]
    lifecycle_history: list[LifecycleEvent]


@router.get("/{patient_id}")
async def get_patient(
    patient_id: UUID, conn: Conn, grant: Annotated[PatientGrant, patient_access("patient.read")]
) -> PatientDetails:
    """One patient, in full."""
    return PatientDetails(**await registry.details(conn, grant.patient_id))


@router.patch("/{patient_id}", status_code=204, responses=ERRORS)
async def change_patient(
    patient_id: UUID,
    body: PatientChange,
    request: Request,
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("patient.update", *LEADS)],
) -> None:
    """Change a patient's record (team leads and administrators)."""
    await registry.update(
        conn, municipality_id=grant.principal.municipality_id, patient_id=grant.patient_id, fields=_fields(body),
        allow_synthetic=_synthetic(request),
    )  # fmt: skip


class LifecycleChange(BaseModel):
    """Move the patient in the service; `discharged` and `deceased` stop all alerts and keep the record."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"to": "paused", "reason": "innlagt på sykehus"}]}
    )

    to: Literal["referral", "trial", "active", "paused", "discharged", "deceased"]
    reason: Reason


@router.post("/{patient_id}/lifecycle", responses=ERRORS)
async def change_lifecycle(
    patient_id: UUID,
    body: LifecycleChange,
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("patient.lifecycle", *LEADS)],
) -> dict[str, str]:
    """Change the service lifecycle along the allowed transitions."""
    previous = await registry.change_lifecycle(
        conn, municipality_id=grant.principal.municipality_id, patient_id=grant.patient_id, to=body.to,
        reason=body.reason, by=grant.principal.id,
    )  # fmt: skip
    return {"from": previous, "to": body.to}


class ConsentIn(BaseModel):
    """Consent, or a documented assessment where consent capacity is lacking, for one supervision sensor; the
    review date is required and the record lapses after it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "device_id": "00000000-0000-4000-8000-000000000000",
                    "basis": "consent",
                    "note": "skriftlig samtykke",
                    "review_by": "2099-01-01",
                }
            ]
        },
    )

    device_id: UUID
    basis: Literal["consent", "assessment"]
    note: Note
    review_by: date
    valid_from: AwareDatetime | None = None


# The registry's record itself, under the schema name the published OpenAPI document has always given it.
class ConsentOut(consent.ConsentRecord):
    """A consent record with its status now (`valid`, `expired`, `withdrawn`)."""


def consent_out(record: consent.ConsentRecord) -> ConsentOut:
    return ConsentOut.model_validate(record, from_attributes=True)


@router.get("/{patient_id}/consents")
async def list_consents(
    patient_id: UUID, conn: Conn, grant: Annotated[PatientGrant, patient_access("consent.read")]
) -> list[ConsentOut]:
    """The patient's consent and assessment records, newest first."""
    return [consent_out(r) for r in await consent.list_for(conn, grant.patient_id)]


@router.post("/{patient_id}/consents", status_code=201, responses=ERRORS)
async def record_consent(
    patient_id: UUID,
    body: ConsentIn,
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("consent.create", *CARERS)],
) -> ConsentOut:
    """Record a consent or assessment; the sensor is activated for the patient from `valid_from`."""
    record = await consent.record(
        conn, municipality_id=grant.principal.municipality_id, patient_id=grant.patient_id,
        by=grant.principal.id, **body.model_dump(),
    )  # fmt: skip
    return consent_out(record)


@router.post("/{patient_id}/consents/{consent_id}/withdraw", responses=ERRORS)
async def withdraw_consent(
    patient_id: UUID,
    consent_id: Annotated[int, Path(ge=1, le=2**62, examples=[1])],
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("consent.withdraw", *CARERS)],
) -> ConsentOut:
    """Withdraw a record from now on; the sensor's readings are quarantined again."""
    record = await consent.withdraw(conn, patient_id=grant.patient_id, consent_id=consent_id, by=grant.principal.id)
    return consent_out(record)


class ReleaseIn(BaseModel):
    """The device and time range `[start, end)` whose `unassigned` quarantined readings go to the patient."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "device_id": "00000000-0000-4000-8000-000000000000",
                    "start": "2026-11-23T08:00:00+01:00",
                    "end": "2026-11-23T12:00:00+01:00",
                }
            ]
        },
    )

    device_id: UUID
    start: AwareDatetime
    end: AwareDatetime


# The registry's result itself, under the schema name the published OpenAPI document has always given it.
class ReleaseOut(release.Released):
    """What the release moved; `released` 0 on a repeat."""


@router.post("/{patient_id}/quarantine-release", responses=ERRORS)
async def release_quarantine(
    patient_id: UUID,
    body: ReleaseIn,
    conn: Conn,
    grant: Annotated[PatientGrant, patient_access("quarantine.release", Role.MUNICIPALITY_ADMIN)],
    preview: bool = False,
) -> ReleaseOut:
    """Move the device's `unassigned` readings in the range from quarantine to the patient (idempotent); with
    `?preview=true`, only count what would move."""
    if body.end <= body.start:
        raise HTTPException(422, "end must be after start")
    if preview:
        counted = await release.preview(
            conn, municipality_id=grant.principal.municipality_id, device_id=body.device_id,
            patient_id=grant.patient_id, start=body.start, end=body.end,
        )  # fmt: skip
        return ReleaseOut.model_validate(counted, from_attributes=True)
    done = await release.release(
        conn, municipality_id=grant.principal.municipality_id, device_id=body.device_id,
        patient_id=grant.patient_id, start=body.start, end=body.end, by=grant.principal.id,
        audit_id=grant.audit_id,
    )  # fmt: skip
    return ReleaseOut.model_validate(done, from_attributes=True)
