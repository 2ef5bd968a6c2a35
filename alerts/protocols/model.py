"""Compiled protocols: rules with their detectors built, ready to evaluate."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from alerts.detectors import DETECTORS, Kind
from alerts.explain import JSONValue, Level
from alerts.inputs import Context, Outcome
from alerts.protocols.schema import AlertClassName, PauseBehaviour, RuleSpec

STANDALONE_DETECTORS = frozenset({"event", "bed_not_back", "no_activity"})


@dataclass(frozen=True)
class Rule:
    """A validated rule. `slots` holds one built detector per severity, most severe first; `alarm` is true
    when the rule reads an alarm-class metric (never auto-resolved, never paused or silenced)."""

    spec: RuleSpec
    slots: tuple[tuple[Level, Any], ...]
    metrics: tuple[str, ...]
    alarm: bool

    @property
    def id(self) -> str:
        """The rule's id, unique within a protocol."""
        return self.spec.id

    @property
    def alert_class(self) -> AlertClassName:
        """clinical, liveness or data_quality."""
        return self.spec.alert_class

    @property
    def kind(self) -> Kind:
        """The detector table entry."""
        return DETECTORS[self.spec.detector]

    @property
    def auto_resolve(self) -> bool:
        """Whether the alert closes itself when the detector no longer triggers (never for alarms)."""
        return self.spec.auto_resolve and not self.alarm

    @property
    def during_pause(self) -> PauseBehaviour:
        """Whether a pause (hospital stay) suspends the rule: clinical rules by default, never alarms or
        liveness."""
        if self.alarm or self.alert_class == "liveness":
            return "keep"
        return self.spec.during_pause or ("suspend" if self.alert_class == "clinical" else "keep")

    @property
    def joins_episode(self) -> bool:
        """Whether the rule's triggers are evidence of the patient's worsening episode (alerts.episodes):
        clinical rules on measurements and trends. Events (alarm button, fall, door, irregular pulse) and the
        daily-life absence rules stand on their own."""
        return self.alert_class == "clinical" and not self.alarm and self.spec.detector not in STANDALONE_DETECTORS

    def parameters(self) -> dict[str, JSONValue]:
        """The rule's parameters per severity, as stored with every alert decision."""
        merged: dict[str, JSONValue] = {
            level: {**self.spec.params, **extra} for level, extra in self.spec.severities.items()
        }
        return {"detector": self.spec.detector, "severities": merged, "source": self.spec.source}

    def evaluate(self, ctx: Context) -> Outcome:
        """Run the severity slots from red down; the first that triggers decides, else the mildest answer."""
        outcome: Outcome | None = None
        for _level, detector in self.slots:
            outcome = self.kind.run(detector, ctx)
            if outcome.decision.triggered:
                return outcome
        assert outcome is not None  # a rule has at least one severity (schema)
        return outcome


@dataclass(frozen=True)
class Protocol:
    """A protocol with its rules (its own and the included fragments'), and the patient's SpO2 scale."""

    name: str
    title: str
    rules: tuple[Rule, ...]
    spo2_scale: int = 1

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError if absent)."""
        return self.by_id()[rule_id]

    def by_id(self) -> Mapping[str, Rule]:
        """Rules keyed by id."""
        return {rule.id: rule for rule in self.rules}

    def rules_for_metrics(self, metrics: Collection[str]) -> tuple[str, ...]:
        """Ids of the rules a new reading of any of `metrics` can change (what ingest queues for evaluation)."""
        wanted = set(metrics)
        return tuple(rule.id for rule in self.rules if wanted & set(rule.metrics))

    def scheduled_rules(self) -> tuple[str, ...]:
        """Ids of the rules the passing of time can change (what the scheduler evaluates)."""
        return tuple(rule.id for rule in self.rules if rule.kind.scheduled)

    def window_days(self) -> dict[str, int]:
        """Per metric, how many days of history the rules need (what the cloud should fetch)."""
        needed: dict[str, int] = {}
        for rule in self.rules:
            for metric in rule.metrics:
                needed[metric] = max(needed.get(metric, 0), rule.spec.window_days)
        return needed
