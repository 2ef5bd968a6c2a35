"""What the FHIR mappings read: plain frozen records gathered by `load.py` (or by a caller that has the rows
already), so the mappings stay pure and the same facts give the same resources."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeAlias
from uuid import UUID

from alerts.thresholds import Limits

NationalIdKind = Literal["fnr", "dnr", "synthetic"]
# The limits of the patient's threshold rules for one metric (green, yellow; red outside): `referenceRange`
# and `interpretation` of an Observation.
ReferenceLimits: TypeAlias = Limits


@dataclass(frozen=True)
class PatientFacts:
    """A patient and their municipality."""

    id: UUID
    national_id: str | None = field(repr=False)  # never in logs or tracebacks
    national_id_kind: NationalIdKind | None
    display_name: str
    municipality_orgnr: str | None
    kommunenummer: str
    municipality_name: str
    lifecycle: str


@dataclass(frozen=True)
class ObservationFacts:
    """One stored reading (a row of `observations`)."""

    id: int
    patient_id: UUID
    device_id: UUID | None
    gateway_id: UUID | None
    device_profile_id: str | None
    metric: str
    value: float
    unit: str
    t: datetime
    measured_at: datetime | None
    received_at: datetime
    source: Literal["gateway", "manual"]
    context: dict[str, Any] | None = None


@dataclass(frozen=True)
class AlertFacts:
    """An alert or a worsening episode (rule `episode.clinical`) with its outcome notes."""

    id: int
    patient_id: UUID
    rule: str
    alert_class: str
    severity: Literal["yellow", "red"]
    state: Literal["triggered", "acknowledged", "resolved"]
    opened_at: datetime
    resolved_at: datetime | None
    message: str
    episode_id: int | None = None
    resolution: str | None = None
    outcomes: tuple[OutcomeNote, ...] = ()


@dataclass(frozen=True)
class OutcomeNote:
    """What a nurse recorded as done about an alert (`alert_outcomes`)."""

    outcome: str
    at: datetime
    note: str | None


@dataclass(frozen=True)
class DeviceFacts:
    """A registered device (or a gateway, `is_gateway`) and, for a device, the gateway it was last read by."""

    id: UUID
    profile_id: str | None
    serial: str | None
    address: str | None
    gateway_id: UUID | None
    is_gateway: bool = False
    label: str = ""


@dataclass(frozen=True)
class AnswerFacts:
    """One day's (or week's) answers of the patient to their own questions: the stored readings of one time."""

    patient_id: UUID
    authored: datetime
    readings: tuple[ObservationFacts, ...]
