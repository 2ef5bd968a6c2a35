"""What an alert says to a person, in one place: its title, the value that made it fire and what that value
was compared with. Every page that shows an alert in words goes through `alert_wording`.

For now the title is the alert's stored message; the value and the limit are read from the explanation the
detector stored with the alert (the limits in force when it fired, personal ones included), formatted the
Norwegian way in bokmål.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from typing import Any

from cloud.web.formats import measure, number
from cloud.worklist.models import AlertOut
from device_profiles.metrics import load_catalogue


@dataclass(frozen=True)
class AlertWording:
    """An alert in words: what happened, the value behind it, and the limit it crossed ("" when none)."""

    title: str
    value: str
    threshold: str


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _limits(metric: str, limits: dict[str, Any], translations: gettext.NullTranslations, language: str) -> str:
    unit = load_catalogue()[metric].unit if metric in load_catalogue() else ""
    low, high = limits.get("green_low"), limits.get("green_high")
    _ = translations.gettext
    if low is not None and high is not None:
        return _("normal {low}–{high}").format(low=number(low, language), high=measure(high, unit, language))
    if low is not None:
        return _("normal from {low}").format(low=measure(low, unit, language))
    if high is not None:
        return _("normal up to {high}").format(high=measure(high, unit, language))
    return ""


def alert_wording(alert: AlertOut, translations: gettext.NullTranslations, language: str) -> AlertWording:
    """The alert in words in `language` (whose catalogue is `translations`)."""
    _ = translations.gettext
    inner = _mapping(alert.explanation.get("explanation"))
    inputs, values, thresholds = (_mapping(inner.get(key)) for key in ("inputs", "values", "thresholds"))
    metric = thresholds.get("metric")
    newest = inputs.get("newest_value")
    if isinstance(metric, str) and isinstance(newest, int | float):
        unit = load_catalogue()[metric].unit if metric in load_catalogue() else ""
        limits = _limits(metric, _mapping(thresholds.get("limits")), translations, language)
        return AlertWording(alert.message, measure(newest, unit, language), limits)
    score = values.get("score")
    if isinstance(score, int):
        severities = _mapping(_mapping(alert.explanation.get("parameters")).get("severities"))
        floor = _mapping(severities.get(alert.severity)).get("min_score")
        limit = _("alert from {score}").format(score=floor) if isinstance(floor, int) else ""
        return AlertWording(alert.message, _("NEWS2 score {score}").format(score=score), limit)
    return AlertWording(alert.message, "", "")
