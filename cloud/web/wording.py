"""The value that made an alert fire and what it was compared with, short, for a row or a fact list: read from
the explanation the detector stored with the alert (the limits in force when it fired, personal ones
included) and formatted the reader's way. The alert's title and sentence come from the triage service
(`cloud.worklist.texts`), which words them with names for a whole list at once.
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
    """The value behind an alert and the limit it crossed ("" when none)."""

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
    """The alert's value and limit in `language` (whose catalogue is `translations`)."""
    _ = translations.gettext
    inner = _mapping(alert.explanation.get("explanation"))
    inputs, values, thresholds = (_mapping(inner.get(key)) for key in ("inputs", "values", "thresholds"))
    metric = thresholds.get("metric")
    newest = inputs.get("newest_value")
    if isinstance(metric, str) and isinstance(newest, int | float):
        unit = load_catalogue()[metric].unit if metric in load_catalogue() else ""
        limits = _limits(metric, _mapping(thresholds.get("limits")), translations, language)
        return AlertWording(measure(newest, unit, language), limits)
    score = values.get("score")
    if isinstance(score, int):
        severities = _mapping(_mapping(alert.explanation.get("parameters")).get("severities"))
        floor = _mapping(severities.get(alert.severity)).get("min_score")
        limit = _("alert from {score}").format(score=floor) if isinstance(floor, int) else ""
        return AlertWording(_("NEWS2 score {score}").format(score=score), limit)
    return AlertWording("", "")
