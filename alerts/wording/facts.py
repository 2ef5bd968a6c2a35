"""The structured facts an alert carries, read back from its stored explanation with their types checked.

Detectors store what they used and computed (alerts.explain) and the evaluation adds the rule's parameters,
summary and title (alerts.evaluate); a stored alert is therefore a rule id, a severity and that JSON. This
module reads it defensively: an alert stored by an older version, or a value of the wrong type, gives None
rather than an exception, so wording an alert never fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

DELIVERY_FAILED: Final = "notify.delivery_failed"  # the platform's own alert (cloud/escalation/outbox.py)


def number(value: object) -> float | None:
    """A finite number, or None (booleans, text and the JSON-safe "nan"/"inf" strings are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def mapping(value: object) -> Mapping[str, object]:
    """A JSON object, or an empty one."""
    return value if isinstance(value, Mapping) else {}


def items(value: object) -> Sequence[object]:
    """A JSON array, or an empty one (text is not a list of characters here)."""
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


def text(value: object) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def instant(value: object) -> float | datetime | None:
    """A time as stored: Unix seconds, or an ISO-8601 text with its offset."""
    if (seconds := number(value)) is not None:
        return seconds
    if (iso := text(value)) is not None:
        try:
            parsed = datetime.fromisoformat(iso)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


@dataclass(frozen=True)
class AlertFacts:
    """What an alert row holds that its wording needs: the rule id, the severity and the stored explanation
    (`alerts.explanation`: the decision with its own explanation, the rule's parameters, summary and title)."""

    rule: str
    severity: str = "yellow"
    explanation: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, row: Mapping[str, object]) -> AlertFacts:
        """The facts of an alert row read by name (a dict row, or a model's dump)."""
        return cls(
            rule=str(row.get("rule", "")),
            severity=str(row.get("severity", "yellow")),
            explanation=mapping(row.get("explanation")),
        )

    @property
    def decision(self) -> Mapping[str, object]:
        """The detector's own explanation (rule, inputs, values, thresholds, notes)."""
        return mapping(self.explanation.get("explanation"))

    @property
    def kind(self) -> str:
        """The detector's explanation rule (`event.at_night`, `threshold`, `news2`, ...), or the alert's rule
        for the platform's own alerts, which have no detector."""
        return text(self.decision.get("rule")) or self.rule

    @property
    def inputs(self) -> Mapping[str, object]:
        """What the detector used."""
        return mapping(self.decision.get("inputs"))

    @property
    def values(self) -> Mapping[str, object]:
        """What the detector computed."""
        return mapping(self.decision.get("values"))

    @property
    def thresholds(self) -> Mapping[str, object]:
        """What the detector compared with."""
        return mapping(self.decision.get("thresholds"))

    @property
    def title(self) -> str | None:
        """The protocol rule's title (English source text), when the alert was stored with it."""
        return text(self.explanation.get("title"))

    @property
    def metric(self) -> str | None:
        """The metric the rule reads: from the detector's thresholds, else from the rule's parameters."""
        if (found := text(self.thresholds.get("metric"))) is not None:
            return found
        severities = mapping(mapping(self.explanation.get("parameters")).get("severities"))
        for params in severities.values():
            if (found := text(mapping(params).get("metric"))) is not None:
                return found
        return None


@dataclass(frozen=True)
class Names:
    """The words an alert's text needs that only the database knows: the patient's name, each device's name
    by id (a catalogue model name such as "Shelly BLU Button1") and each gateway's place by id (its home's
    address). An id without a name is never shown; the text says "a device" instead."""

    patient: str
    devices: Mapping[str, str] = field(default_factory=dict)
    gateways: Mapping[str, str] = field(default_factory=dict)
