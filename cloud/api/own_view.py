"""The shapes of the citizens' answers: a patient's own view as the patient and their relatives read it (with
the meaning of each measurement worded in the reader's language), the questions' answers and the
invitations of relatives."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from alerts.wording.formats import Reader
from cloud.access.relatives import Relative
from cloud.worklist.own_view import Measurement, OwnView

_Answer = Annotated[float | None, Field(default=None, allow_inf_nan=False)]


class TrendOut(BaseModel):
    """The last 30 days of the measurement's first number, oldest first, with the lowest and highest."""

    values: list[float]
    lowest: float
    highest: float


class MeasurementOut(BaseModel):
    """A measurement's newest value(s) (blood pressure: upper and lower number) and what they mean in words."""

    key: str
    values: list[float]
    unit: str
    measured_at: datetime
    words: str
    answer: str | None
    nurse_told: bool
    trend: TrendOut | None


class UpcomingOut(BaseModel):
    """A planned measurement: by when to take it next."""

    metric: str
    due: datetime
    today: bool


class OwnViewOut(BaseModel):
    """What the patient sees of their record (and a relative they invited, without the questions)."""

    patient_id: UUID
    name: str
    measurements: list[MeasurementOut]
    answers: list[MeasurementOut]
    upcoming: list[UpcomingOut]
    questions_due_today: bool
    weekly_questions_due: bool


def measurement_out(found: Measurement, reader: Reader) -> MeasurementOut:
    """One measurement, worded for the reader."""
    words = reader._(found.sentence).format(what=reader._(found.subject)) if found.sentence else ""
    trend = (
        TrendOut(values=found.trend.values, lowest=found.trend.lowest, highest=found.trend.highest)
        if found.trend
        else None
    )
    return MeasurementOut(
        key=found.key, values=list(found.values), unit=found.unit, measured_at=found.measured_at, words=words,
        answer=reader._(found.answer) if found.answer else None, nurse_told=found.told, trend=trend,
    )  # fmt: skip


def own_view_out(view: OwnView, reader: Reader) -> OwnViewOut:
    """The whole view, worded for the reader."""
    return OwnViewOut(
        patient_id=view.patient_id, name=view.name,
        measurements=[measurement_out(m, reader) for m in view.measurements],
        answers=[measurement_out(m, reader) for m in view.answers],
        upcoming=[UpcomingOut(metric=u.metric, due=u.due, today=u.today) for u in view.upcoming],
        questions_due_today=view.daily_due, weekly_questions_due=view.weekly_due,
    )  # fmt: skip


class AnswersIn(BaseModel):
    """The day's answers, each a whole number: `dyspnoea` and `oedema` 0 (not at all) to 4 (very much),
    `wellbeing` 0 (very poorly) to 4 (very well); `cat_items`, when the week's lung questions are due, their
    eight answers 0-5 in order."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"dyspnoea": 1, "oedema": 0, "wellbeing": 3}]}
    )

    dyspnoea: _Answer = None
    oedema: _Answer = None
    wellbeing: _Answer = None
    cat_items: Annotated[list[Annotated[float, Field(allow_inf_nan=False)] | None] | None, Field(max_length=64)] = None


class RelativeIn(BaseModel):
    """Whom the patient invites to read their view: the person's name and national identity number (which
    binds their ID-porten sign-in)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Ingrid Nordmann", "national_id": "01017012345"}]}
    )

    name: str = Field(max_length=400)
    national_id: str = Field(max_length=20)


class RelativeOut(BaseModel):
    """An invitation: the relative's name, when the patient consented, and when it was withdrawn (None: live)."""

    id: UUID
    name: str
    consented_at: datetime
    revoked_at: datetime | None


def relative_out(found: Relative) -> RelativeOut:
    """One invitation as the API shows it (never the relative's national id)."""
    return RelativeOut(id=found.id, name=found.display_name, consented_at=found.consented_at,
                       revoked_at=found.revoked_at)  # fmt: skip


class FollowedOut(BaseModel):
    """A patient whose view the signed-in relative may read."""

    patient_id: UUID
    name: str
