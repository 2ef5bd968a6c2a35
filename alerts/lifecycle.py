"""The alert lifecycle as a pure state machine: triggered -> acknowledged -> resolved.

One open alert per (patient, rule): while it is open a new triggering input counts a repeat and keeps the
newest value instead of opening a second alert. Severity only rises while an alert is open (yellow -> red
emits `severity_changed`); when the values ease back to yellow the alert keeps red until a person closes it
or it resolves, because a red that nobody has looked at yet must not quietly turn yellow. Auto-resolve
happens only where the rule says so, and never for alarm-class events: a person closes those.

The functions here return transitions; they never store anything. The cloud applies each transition in
its database (see `PatientState.apply` for the reference semantics).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from alerts.explain import JSONValue, Level


class Event(StrEnum):
    """What happened to an alert (or to a would-be alert)."""

    TRIGGERED = "triggered"
    REPEATED = "repeated"
    SEVERITY_CHANGED = "severity_changed"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"
    SUPPRESSED = "suppressed"
    PAUSE_ENDED = "pause_ended"
    DETECTOR_FAILED = "detector_failed"
    REMEASURE_REQUESTED = "remeasure_requested"  # a doubtful reading: the patient is asked to measure again
    EVIDENCE_ADDED = "evidence_added"  # another rule's trigger joined the patient's open worsening episode


class AlertState(StrEnum):
    """Where an open alert is in its life (resolved alerts are no longer open)."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"


class Suppression(StrEnum):
    """Why detection decided not to notify; recorded on the transition, respected by escalation."""

    INHIBITED = "inhibited"  # a gateway is down: the sensors behind it are silent because of it
    SILENCED = "silenced"  # a person blocked new alerts of this rule for this patient until a time
    PAUSED = "paused"  # the patient is away (hospital stay); vitals rules are suspended
    SNOOZED = "snoozed"  # a person stopped re-notification of this open alert until a time


@dataclass(frozen=True)
class OpenAlert:
    """An alert that is not yet resolved: the row the database keeps unique per (patient, rule)."""

    rule: str
    alert_class: str
    severity: Level
    opened_at: float
    auto_resolve: bool
    state: AlertState = AlertState.TRIGGERED
    repeats: int = 0
    last_value: Mapping[str, JSONValue] = field(default_factory=dict)
    last_input_at: float | None = None
    updated_at: float | None = None
    snoozed_until: float | None = None

    def snoozed(self, now: float) -> bool:
        """Whether re-notification is stopped at `now`."""
        return self.snoozed_until is not None and now < self.snoozed_until


@dataclass(frozen=True)
class Transition:
    """One change to apply: the event, the alert after it (None once resolved or when suppressed), whether
    escalation should notify, and the full explanation (rule, parameters, inputs, computed values).
    `in_episode` marks a rule's transition that is evidence of the patient's worsening episode: it is
    recorded and explained, and the episode, not the rule, is what the nurse is notified of."""

    event: Event
    rule: str
    alert_class: str
    severity: Level
    at: float
    message: str
    notify: bool
    suppressed_by: Suppression | None = None
    last_input_at: float | None = None
    explanation: Mapping[str, JSONValue] = field(default_factory=dict)
    alert: OpenAlert | None = None
    in_episode: bool = False

    def to_json(self) -> dict[str, JSONValue]:
        """A JSON-safe dict for storage and logs."""
        return {
            "event": self.event.value,
            "rule": self.rule,
            "class": self.alert_class,
            "severity": self.severity.value,
            "at": self.at,
            "message": self.message,
            "notify": self.notify,
            "suppressed_by": None if self.suppressed_by is None else self.suppressed_by.value,
            "last_input_at": self.last_input_at,
            "in_episode": self.in_episode,
            "explanation": dict(self.explanation),
        }


@dataclass(frozen=True)
class Verdict:
    """A rule's answer at `at`, with the suppression detection decided for it (if any)."""

    rule: str
    alert_class: str
    triggered: bool
    judged: bool  # false when the detector lacked data: "no data" neither opens nor resolves
    severity: Level
    at: float
    message: str
    auto_resolve: bool
    explanation: Mapping[str, JSONValue]
    last_input_at: float | None = None
    suppressed_by: Suppression | None = None


def _transition(
    verdict: Verdict, event: Event, notify: bool, after: OpenAlert | None, suppressed_by: Suppression | None
) -> Transition:
    return Transition(
        event=event,
        rule=verdict.rule,
        alert_class=verdict.alert_class,
        severity=after.severity if after is not None else verdict.severity,
        at=verdict.at,
        message=verdict.message,
        notify=notify,
        suppressed_by=suppressed_by,
        last_input_at=verdict.last_input_at,
        explanation=verdict.explanation,
        alert=after,
    )


def step(alert: OpenAlert | None, verdict: Verdict) -> tuple[Transition, ...]:
    """The transitions one verdict causes for the rule's open alert (or its absence)."""
    if alert is None:
        if not verdict.triggered:
            return ()
        if verdict.suppressed_by is not None:
            return (_transition(verdict, Event.SUPPRESSED, False, None, verdict.suppressed_by),)
        opened = OpenAlert(
            rule=verdict.rule,
            alert_class=verdict.alert_class,
            severity=verdict.severity,
            opened_at=verdict.at,
            auto_resolve=verdict.auto_resolve,
            last_value=verdict.explanation,
            last_input_at=verdict.last_input_at,
            updated_at=verdict.at,
        )
        return (_transition(verdict, Event.TRIGGERED, True, opened, None),)
    if verdict.suppressed_by is not None:
        return ()  # an open alert stays as it is while its rule is paused or inhibited
    if verdict.triggered:
        return _while_open(alert, verdict)
    if verdict.judged and alert.auto_resolve:
        closed = dataclasses.replace(verdict, severity=alert.severity)  # the alert closes at the severity it had
        return (_transition(closed, Event.RESOLVED, False, None, None),)
    return ()


def _while_open(alert: OpenAlert, verdict: Verdict) -> tuple[Transition, ...]:
    new_input = verdict.last_input_at is not None and (
        alert.last_input_at is None or verdict.last_input_at > alert.last_input_at
    )
    worse = verdict.severity.rank > alert.severity.rank
    if not (new_input or worse):
        return ()
    updated = dataclasses.replace(
        alert,
        severity=verdict.severity if worse else alert.severity,
        repeats=alert.repeats + (1 if new_input else 0),
        last_value=verdict.explanation,
        last_input_at=verdict.last_input_at if new_input else alert.last_input_at,
        updated_at=verdict.at,
    )
    if worse:
        # A rise to red notifies even through a snooze: the snooze was given for the yellow alert.
        return (_transition(verdict, Event.SEVERITY_CHANGED, True, updated, None),)
    snoozed = alert.snoozed(verdict.at)
    reason = Suppression.SNOOZED if snoozed else None
    return (_transition(verdict, Event.REPEATED, not snoozed, updated, reason),)


def acknowledge(alert: OpenAlert, at: float, by: str) -> tuple[OpenAlert, Transition]:
    """A person has seen the alert and is on it: it stays open (repeats still count), escalation stops."""
    updated = dataclasses.replace(alert, state=AlertState.ACKNOWLEDGED, updated_at=at)
    return updated, _manual(Event.ACKNOWLEDGED, updated, at, f"acknowledged by {by}")


def called_again(alert: OpenAlert, at: float) -> OpenAlert:
    """A safety alarm pressed again after a person took it is a new call for help (its escalation starts a new
    round: alerts.escalation.chain): it waits to be taken again. The press itself is the repeat `step` counted."""
    return dataclasses.replace(alert, state=AlertState.TRIGGERED, updated_at=at)


def resolve(alert: OpenAlert, at: float, by: str, reason: str) -> Transition:
    """A person closes the alert (the only way an alarm-class alert is closed)."""
    return _manual(Event.RESOLVED, alert, at, f"resolved by {by}: {reason}", after=None)


def snooze(alert: OpenAlert, until: float) -> OpenAlert:
    """Stop re-notification of this open alert until `until`; it stays open and keeps counting repeats."""
    return dataclasses.replace(alert, snoozed_until=until)


def _manual(event: Event, alert: OpenAlert, at: float, message: str, after: OpenAlert | None = None) -> Transition:
    return Transition(
        event=event,
        rule=alert.rule,
        alert_class=alert.alert_class,
        severity=alert.severity,
        at=at,
        message=message,
        notify=False,
        last_input_at=alert.last_input_at,
        alert=after if event is Event.RESOLVED else alert,
    )
