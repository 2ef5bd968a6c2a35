"""What the patient's rules say about their newest readings, for the patient page.

Nothing here is a rule of its own: each answer is the patient's compiled protocol (`protocol_for`: the
municipality's and the patient's own overrides applied) run on what detection would read.

- The traffic light of a metric's newest value is the highest level the limits of the protocol's threshold
  rules for that metric give the value alone (`Limits.rank`); persistence and hysteresis, which decide when an
  *alert* opens, do not apply to one value. A NEWS2 parameter without a threshold rule, in a protocol that
  scores NEWS2, gets the level of its NEWS2 points alone (0 green, 1-2 yellow, 3 red: RCP 2017 chart 3), and
  its chart the NEWS2 bands of scale 1 (`alerts.thresholds.DEFAULT_LIMITS`). Any other metric has no light.
- The NEWS2 "now" is the protocol's NEWS2 rule evaluated on the readings detection would give it; only the
  day up to the newest reading of its parameters is read, which is all the rule's window (60 minutes of the
  newest observation unless the protocol sets otherwise) can use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from alerts.detectors import News2Rule
from alerts.explain import JSONValue, Level, Status
from alerts.inputs import Context
from alerts.news2.chart import Param
from alerts.news2.score import News2Input, score_news2
from alerts.news2.window import METRIC_KEYS, from_stored
from alerts.protocols.model import Protocol, Rule
from alerts.thresholds import DEFAULT_LIMITS, Limits, ThresholdRule
from cloud.evaluation import inputs
from device_profiles.metrics import load_catalogue

DAY_S = 86400.0
PARAMS = {metric: param for param, metric in METRIC_KEYS.items()}


@dataclass(frozen=True)
class MetricLimits:
    """The limits one threshold rule of the protocol sets for a metric (one per severity slot)."""

    rule: str
    title: str
    metric: str
    limits: Limits


@dataclass(frozen=True)
class News2Now:
    """The NEWS2 the protocol's rule scores from the newest readings: the score, its band, the subscore of each
    parameter measured (in chart order), the values used, whether all seven were measured, and when the newest
    of them was."""

    rule: str
    score: int
    band: str
    subscores: dict[str, int]
    used: Mapping[str, JSONValue]
    complete: bool
    measured_at: datetime | None
    scale: int


def threshold_limits(protocol: Protocol) -> dict[str, list[MetricLimits]]:
    """Per metric, the limits of the protocol's threshold rules that read it, in rule order."""
    found: dict[str, list[MetricLimits]] = {}
    for rule in protocol.rules:
        for _level, detector in rule.slots:
            if isinstance(detector, ThresholdRule):
                entry = MetricLimits(rule.id, rule.spec.title, detector.metric, detector.limits)
                found.setdefault(detector.metric, []).append(entry)
    return found


def light(limits: Iterable[MetricLimits], value: float) -> Level | None:
    """The traffic light of one value under these limits (None when there are none)."""
    ranks = [entry.limits.rank(value) for entry in limits]
    return Level.from_rank(max(ranks)) if ranks else None


def news2_light(protocol: Protocol, metric: str, value: float) -> Level | None:
    """The level of a NEWS2 parameter's value by its points alone, when the protocol scores NEWS2 (None for
    any other metric, or a value NEWS2 cannot score)."""
    param = PARAMS.get(metric)
    if param is None or news2_rule(protocol) is None:
        return None
    try:
        scored = from_stored(param, value, load_catalogue()[metric].levels)
        return score_news2(News2Input(**{param.value: scored}, scale=protocol.spo2_scale)).level  # type: ignore[arg-type]
    except ValueError:
        return None


def bands(protocol: Protocol, metric: str, limits: list[MetricLimits]) -> Limits | None:
    """The limits a chart of `metric` shades: its first threshold rule's, else the NEWS2 bands when the protocol
    scores NEWS2 on scale 1 (scale 2 scores SpO2 by whether oxygen is given, which one band cannot show)."""
    if limits:
        return limits[0].limits
    if news2_rule(protocol) is None or (metric == METRIC_KEYS[Param.SPO2] and protocol.spo2_scale != 1):
        return None
    return DEFAULT_LIMITS.get(metric)


def news2_rule(protocol: Protocol) -> Rule | None:
    """The protocol's NEWS2 rule, if it has one."""
    return next((rule for rule in protocol.rules if rule.spec.detector == "news2"), None)


def _window_s(rule: Rule) -> float:
    return max(float(detector.window_s) for _level, detector in rule.slots if isinstance(detector, News2Rule))


def _result(rule: Rule, explanation: Mapping[str, Any], scale: int, newest: float | None) -> News2Now:
    values = explanation["values"]
    subscores = {param.value: values["subscores"][param.value] for param in Param if param.value in values["subscores"]}
    return News2Now(
        rule=rule.id, score=int(values["score"]), band=str(values["band"]), subscores=subscores,
        used=explanation["inputs"], complete=len(subscores) == len(Param), scale=scale,
        measured_at=None if newest is None else datetime.fromtimestamp(newest, UTC),
    )  # fmt: skip


async def news2_now(
    conn: AsyncConnection[Any], patient_id: UUID, protocol: Protocol, newest: float | None, now: datetime
) -> News2Now | None:
    """The NEWS2 of the newest observation set, `newest` being the time of the newest reading of any NEWS2
    parameter (None: the patient has none); None also when the protocol scores no NEWS2."""
    rule = news2_rule(protocol)
    if rule is None or newest is None:
        return None
    upper = min(newest, now.timestamp())
    days = max(1, math.ceil(_window_s(rule) / DAY_S) + 1)
    windows = await inputs.windows(conn, patient_id, dict.fromkeys(rule.metrics, days), upper)
    outcome = rule.evaluate(Context(now=now.timestamp(), windows=windows, spo2_scale=protocol.spo2_scale))
    decision = outcome.decision
    if decision.status is not Status.EVALUATED or "score" not in decision.explanation.values:
        return None
    return _result(rule, decision.explanation.to_json(), protocol.spo2_scale, outcome.last_input_at)
