"""What the triage service answers: alerts, the worklist, an alert's detail with its readings, notifications
and notes. The JSON API returns these models as they are; the web pages render them.

What a person reads is `title` and `sentence`, worded for the reader (cloud/worklist/texts.py) with the
patient, device and measurement named; ids stay in their own fields. `message` is the detector's English
summary with ids in it, kept for older API clients and marked deprecated in the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, Field, computed_field

from alerts.escalation import round_of

# The words of an alert for the reader (Accept-Language, bokmål first): the same texts the pages show.
Title = Annotated[str, Field(description="The alert's title in the reader's language.")]
SENTENCE = "What happened in one sentence in the reader's language, naming the patient, device and measurement."
Sentence = Annotated[str, Field(description=SENTENCE)]


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
    message: str = Field(
        description="Deprecated: the detector's English summary, which may contain ids. Show `title` and "
        "`sentence` to people.",
        json_schema_extra={"deprecated": True},
    )
    explanation: dict[str, Any]
    last_value: dict[str, Any]
    snoozed_until: datetime | None
    resolved_at: datetime | None
    episode_id: int | None = Field(
        default=None,
        description="For a rule's alert that is evidence of a worsening episode: the episode's alert, which is "
        "the one the nurse is notified of and acts on.",
    )


class WorklistAlert(AlertOut):
    """An open alert in the worklist, with its event class and escalation position."""

    event_class: str | None
    next_step: int | None
    acknowledged_at: datetime | None
    waiting_until: datetime | None = Field(
        default=None, description="Outside service hours: when the alert will be delivered to the team."
    )
    journal_error: str | None = Field(
        default=None,
        description="A resolved alert still listed because journaling it to VKP failed: the last reason. It "
        "is retried with back-off and leaves the worklist once VKP has it.",
    )
    journal_attempts: int | None = None
    journal_retry_at: datetime | None = None
    title: Title
    sentence: Sentence


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


class AlertReading(BaseModel):
    """One stored reading of the alert's metrics."""

    metric: str
    value: float
    unit: str
    t: datetime
    received_at: datetime
    stored_at: datetime


class LocalAttemptOut(BaseModel):
    """One attempt of the gateway to raise the alarm in the home or by SMS while its uplink was down
    (`raised_locally` of the wire contract), with the time of the reading it was for."""

    reading_at: datetime
    at: datetime
    path: str = Field(description="siren, light or sms")
    ok: bool
    detail: str


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
    delivered_at: datetime | None = None  # an SMS gateway's receipt said it reached the phone
    on_duty: list[str] = []  # the rota's staff for the step's role and the patient's team when it fired
    last_error: str | None
    receipt: dict[str, Any] | None
    history: list[dict[str, Any]]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def round(self) -> int:
        """The chain's round the step belongs to: 1, or more for a safety alarm pressed again after its chain
        went quiet (alerts.escalation.chain)."""
        return round_of(self.step)[0]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def step_in_round(self) -> int:
        """The step's number within its round, from 0 (`step` is the number it is kept under)."""
        return round_of(self.step)[1]


class Note(BaseModel):
    """A comment or an outcome on the alert, with its author's name (None for someone of another municipality
    or no longer registered)."""

    kind: str
    text: str
    at: datetime
    by: UUID
    author: str | None = None


class EvidenceOut(BaseModel):
    """A rule's alert that is evidence of a worsening episode: its words, how urgent, when it fired and where
    it stands (its own detail is `GET /alerts/{alert_id}`)."""

    alert_id: int
    rule: str
    severity: str
    state: str
    opened_at: datetime
    resolved_at: datetime | None
    title: Title
    sentence: Sentence


class RouteInfo(BaseModel):
    """The route service hours chose when the alert opened: who it reaches, from when, and why."""

    recipient: str
    deliver_at: datetime | None
    why: str
    staff: list[str] = []


class JournalOut(BaseModel):
    """Where the alert's journaling to the patient's record (VKP) stands: `not_journaled` (its kind is never
    journaled, or the municipality has no VKP client), `waiting`, `failed` (with the last reason and the next
    attempt) or `journaled`, with the VKP alert code it is filed under."""

    state: str
    alert_code: str | None
    journaled_at: datetime | None
    last_error: str | None
    next_attempt_at: datetime | None


class AlertDetail(BaseModel):
    """Everything a nurse needs to act on an alert: what fired and why, recent readings, the chain so far,
    the per-alert timestamps, and what people have written and done."""

    alert: AlertOut
    patient_id: UUID
    patient: str
    title: Title
    sentence: Sentence
    event_class: str | None
    policy: str | None
    route: RouteInfo | None = None
    timestamps: dict[str, datetime | None]
    readings: list[AlertReading]
    notifications: list[NotificationOut]
    notes: list[Note]
    raised_locally: list[LocalAttemptOut] = Field(
        default_factory=list,
        description="How the gateway raised the alarm locally (siren, light, SMS) while its uplink was down, "
        "every attempt with its result; empty when the alarm reached the cloud in time.",
    )
    journal: JournalOut | None = Field(
        default=None, description="The alert's journaling to VKP; none when it is not (yet) journaled."
    )
    evidence: list[EvidenceOut] = Field(
        default_factory=list,
        description="For a worsening episode (rule `episode.clinical`): the rules' alerts it collected, in the "
        "order they fired; empty for any other alert.",
    )


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
