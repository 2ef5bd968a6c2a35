"""The shape of an escalation policy document, checked by pydantic when it is loaded or stored.

A document holds named policies; each matches event classes and severities and lists ordered steps. Step 0
is normally the patient's care team in the worklist (`in_app` to `care_team`); later steps reach a named role
(`target`) by e-mail or webhook after `after_minutes` without an acknowledgement. `ack_timeout_minutes`
re-notifies (`renotify`) when an acknowledged alert is still not resolved. Every (event class, severity) pair
must be matched by some policy, so no alert is ever without a chain.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EventClass = Literal["alarm", "clinical", "liveness", "data_quality", "internal"]
Severity = Literal["yellow", "red"]
ChannelName = Literal["in_app", "email", "webhook", "sms"]
EVENT_CLASSES: tuple[EventClass, ...] = ("alarm", "clinical", "liveness", "data_quality", "internal")
SEVERITIES: tuple[Severity, ...] = ("red", "yellow")
TARGET = r"^[a-z][a-z0-9_]*$"
CARE_TEAM = "care_team"  # the in-app target: the patient's care team's worklist


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StepSpec(_Frozen):
    """One step: after `after_minutes` since the alert opened (unacknowledged), notify `target` by `channel`."""

    after_minutes: Annotated[float, Field(ge=0, le=7 * 24 * 60)]
    channel: ChannelName
    target: Annotated[str, Field(pattern=TARGET)]

    @model_validator(mode="after")
    def _in_app_is_the_team(self) -> StepSpec:
        if self.channel == "in_app" and self.target != CARE_TEAM:
            raise ValueError(f"an in_app step notifies the worklist of {CARE_TEAM!r}, not {self.target!r}")
        if self.channel != "in_app" and self.target == CARE_TEAM:
            raise ValueError(f"{CARE_TEAM!r} is reached in the worklist (channel in_app)")
        return self


class RenotifySpec(_Frozen):
    """Who is reminded when an acknowledged alert stays unresolved past the ack timeout."""

    channel: ChannelName = "in_app"
    target: Annotated[str, Field(pattern=TARGET)] = CARE_TEAM
    times: Annotated[int, Field(ge=1, le=10)] = 3


class PolicySpec(_Frozen):
    """A chain for some event classes and severities."""

    name: Annotated[str, Field(pattern=TARGET)]
    classes: Annotated[tuple[EventClass, ...], Field(min_length=1)]
    severities: Annotated[tuple[Severity, ...], Field(min_length=1)] = SEVERITIES
    steps: Annotated[tuple[StepSpec, ...], Field(min_length=1, max_length=20)]
    ack_timeout_minutes: Annotated[float | None, Field(gt=0, le=7 * 24 * 60)] = None
    renotify: RenotifySpec = RenotifySpec()

    @model_validator(mode="after")
    def _ordered(self) -> PolicySpec:
        waits = [step.after_minutes for step in self.steps]
        if waits != sorted(waits) or len(set(waits)) != len(waits):
            raise ValueError("steps must come in strictly increasing after_minutes")
        if "alarm" in self.classes and waits[0] != 0:
            raise ValueError("a safety alarm's first step is immediate (after_minutes: 0): never delay an alarm")
        return self


class PolicyDocument(_Frozen):
    """A municipality's escalation policies (or the shipped default); the first matching policy wins."""

    policies: Annotated[tuple[PolicySpec, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _complete(self) -> PolicyDocument:
        names = [policy.name for policy in self.policies]
        if len(set(names)) != len(names):
            raise ValueError("policy names must be unique")
        for event_class in EVENT_CLASSES:
            for severity in SEVERITIES:
                if not any(event_class in p.classes and severity in p.severities for p in self.policies):
                    raise ValueError(f"no policy matches event class {event_class!r} at severity {severity!r}")
        return self
