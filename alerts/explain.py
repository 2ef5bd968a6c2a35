"""Decisions and their explanations: what every detector returns.

A decision that a nurse cannot trace back to readings and thresholds is useless in triage and impossible to
tune later, so every detector returns the inputs it used, the values it computed and the thresholds it
compared them with, in a shape the cloud can store as JSON next to the alert.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TypeAlias

# What an explanation may hold. Non-finite floats are allowed here and made JSON-safe by `to_json`.
Scalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = Scalar | Sequence["JSONValue"] | Mapping[str, "JSONValue"]


class Level(StrEnum):
    """The traffic light of a reading or a patient."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"

    @property
    def rank(self) -> int:
        """0 for green, 1 for yellow, 2 for red: levels compare by urgency."""
        return _RANKS[self]

    @staticmethod
    def from_rank(rank: int) -> Level:
        """The level with this rank (clamped to green..red)."""
        return _BY_RANK[max(0, min(rank, 2))]


_RANKS = {Level.GREEN: 0, Level.YELLOW: 1, Level.RED: 2}
_BY_RANK = {rank: level for level, rank in _RANKS.items()}


class Status(StrEnum):
    """Whether the detector could judge at all; "no data" must never look like "all well"."""

    EVALUATED = "evaluated"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class Explanation:
    """Why a detector decided what it did."""

    rule: str
    inputs: Mapping[str, JSONValue] = field(default_factory=dict)
    values: Mapping[str, JSONValue] = field(default_factory=dict)
    thresholds: Mapping[str, JSONValue] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, JSONValue]:
        """A JSON-safe dict (NaN and infinities become the strings "nan", "inf", "-inf")."""
        return {
            "rule": self.rule,
            "inputs": json_safe(self.inputs),
            "values": json_safe(self.values),
            "thresholds": json_safe(self.thresholds),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Decision:
    """A detector's verdict: the level, whether it asks for an alert, and the explanation."""

    level: Level
    triggered: bool
    status: Status
    explanation: Explanation

    def to_json(self) -> dict[str, JSONValue]:
        """The decision as a JSON-safe dict."""
        return {
            "level": self.level.value,
            "triggered": self.triggered,
            "status": self.status.value,
            "explanation": self.explanation.to_json(),
        }


def json_safe(value: JSONValue) -> JSONValue:
    """Replace non-finite floats (which JSON cannot hold) by their names, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def parameters(rule: object, **extra: JSONValue) -> dict[str, JSONValue]:
    """A rule dataclass's parameters for its explanation: every field but the alert level, then `extra`."""
    values: dict[str, JSONValue] = {f.name: getattr(rule, f.name) for f in fields(rule) if f.name != "level"}  # type: ignore[arg-type]
    return values | extra


def judged(
    level: Level,
    triggered: bool,
    rule: str,
    inputs: Mapping[str, JSONValue],
    values: Mapping[str, JSONValue],
    thresholds: Mapping[str, JSONValue],
) -> Decision:
    """An evaluated decision: the rule's `level` when it triggered, else green, with its explanation."""
    return Decision(
        level=level if triggered else Level.GREEN,
        triggered=triggered,
        status=Status.EVALUATED,
        explanation=Explanation(rule=rule, inputs=inputs, values=values, thresholds=thresholds),
    )


def insufficient(
    rule: str, reason: str, inputs: Mapping[str, JSONValue], thresholds: Mapping[str, JSONValue]
) -> Decision:
    """A green, untriggered decision that says plainly the detector had too little data to judge."""
    return Decision(
        level=Level.GREEN,
        triggered=False,
        status=Status.INSUFFICIENT_DATA,
        explanation=Explanation(rule=rule, inputs=inputs, thresholds=thresholds, notes=(reason,)),
    )
