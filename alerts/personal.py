"""Personal limits proposed from a trial period: the person's own normal, for a nurse to approve.

At the end of the trial period (2-4 weeks of measurements) each clinical threshold rule on a vital sign
gets a proposed green range of median +- k x spread of the person's own readings in the period. The spread
is the MAD scaled to a standard deviation (alerts.baseline), at least the metric's smallest clinically
meaningful change. Two bounds keep a proposal safe:

- **Floor.** The proposal never narrows the green range inside the band that both the protocol and the
  NEWS2 chart call normal (score 0, scale 1; scale 2 for SpO2 when the patient has it), so a personal limit
  never raises an alert on a value the chart scores 0. A person whose normal lies outside that band (a
  COPD patient at 91 %) gets a wider range; a person with little variation keeps the band.
- **Ceiling.** The green range never reaches into the rule's red band (the NEWS2 score-3 limits): red
  stays red whatever the person's normal is. Where the person's normal would cross it, the limit is held
  at the red limit and the proposal says so.

Limits apply to single readings, so the spread is computed over readings, not daily values. The result is
data (per rule: the proposed `limits` parameter and the figures behind it); it becomes a rule override
only when a nurse approves it, in the cloud.

**Quiet days only.** A person's normal is learnt from days on which nothing clinical was going on: the
caller names the local calendar days (Europe/Oslo) on which the patient had an open clinical alert or
episode, and their readings are left out, so an exacerbation during the trial period does not widen the
limits that are meant to catch the next one. Each rule's proposal says which of its days were left out; when
too few readings or days remain, the rule is skipped and the reason says how many were left out.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.baseline import baseline_of
from alerts.days import OSLO, day_label, local_days
from alerts.explain import JSONValue
from alerts.protocols.model import Protocol, Rule
from alerts.series import FloatArray, clean

# k: a single reading outside median +- 3 spreads is a Shewhart 3-sigma signal (statistical-process-control
# convention, our choice; tuned on the scenario suite's seeds 0-99, see docs/detection.md#personal). The
# clinical sources use 1.645-2 SD for rules that also require persistence or daily aggregation (Cooper 2020,
# J Am Geriatr Soc 2014); a limit judged on every single reading needs a wider band.
DEFAULT_K: Final = 3.0
MIN_READINGS: Final = 10
MIN_DAYS: Final = 7
_EPOCH: Final = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class MetricBounds:
    """The NEWS2 score-0 band (scale 1) of a metric, its smallest meaningful spread and its resolution."""

    normal_low: float | None
    normal_high: float | None
    min_spread: float
    resolution: float


# NEWS2 chart 1 score-0 bands (RCP 2017); min_spread and resolution are our choice (the resolution of home
# devices; changes smaller than min_spread are within measurement error).
METRICS: Final[Mapping[str, MetricBounds]] = {
    "heart_rate": MetricBounds(51, 90, 3.0, 1.0),
    "spo2": MetricBounds(96, None, 1.0, 1.0),
    "bp.systolic": MetricBounds(111, 219, 5.0, 1.0),
    "resp.rate": MetricBounds(12, 20, 1.0, 1.0),
    "body.temperature": MetricBounds(36.1, 38.0, 0.2, 0.1),
}
SPO2_SCALE_2_NORMAL_LOW: Final = 88.0


@dataclass(frozen=True)
class RuleProposal:
    """The proposed `limits` of one threshold rule and the figures they come from. `readings` and `days` count
    what was used; `left_out_days` (ISO dates) and `left_out_readings` what was left out as alert days."""

    rule: str
    metric: str
    readings: int
    days: int
    median: float
    spread: float
    current: dict[str, float | None]
    proposed: dict[str, float | None]
    held_at_red: tuple[str, ...]
    left_out_days: tuple[str, ...] = ()
    left_out_readings: int = 0

    def changed(self) -> bool:
        """Whether the proposal differs from the rule's current limits."""
        return self.current != self.proposed

    def override_params(self) -> dict[str, JSONValue]:
        """What an approved proposal writes into the rule override's `params`."""
        return {"limits": dict(self.proposed)}

    def to_json(self) -> dict[str, JSONValue]:
        """The proposal as stored and shown to the nurse."""
        # asdict copies the dicts; a tuple stays a tuple, so the JSON lists are made here.
        return {**asdict(self), "held_at_red": list(self.held_at_red), "left_out_days": list(self.left_out_days)}


def _round_out(value: float, resolution: float, down: bool) -> float:
    steps = value / resolution
    rounded = math.floor(steps + 1e-9) if down else math.ceil(steps - 1e-9)
    return round(rounded * resolution, 6)


def _limits_of(rule: Rule) -> dict[str, float | None]:
    limits = rule.spec.params.get("limits", {})
    for extra in rule.spec.severities.values():
        limits = {**limits, **extra.get("limits", {})}
    keys = ("green_low", "green_high", "yellow_low", "yellow_high")
    return {key: None if limits.get(key) is None else float(limits[key]) for key in keys}


def personal_rules(protocol: Protocol) -> tuple[Rule, ...]:
    """The clinical threshold rules a proposal covers: one vital sign each, with a known NEWS2 band."""
    return tuple(
        rule
        for rule in protocol.rules
        if rule.spec.detector == "threshold" and rule.alert_class == "clinical" and rule.metrics[0] in METRICS
    )


@dataclass(frozen=True)
class _Quiet:
    """A rule's readings on quiet days, and what was left out."""

    values: FloatArray
    days: int
    left_out_days: tuple[str, ...]
    left_out_readings: int

    def note(self) -> str:
        """What a skip reason adds when alert days were left out."""
        if not self.left_out_readings:
            return ""
        days = len(self.left_out_days)
        return f" after leaving out {self.left_out_readings} readings on {days} days with an open clinical alert"


def _quiet(times: npt.ArrayLike, values: npt.ArrayLike, left_out: Collection[dt.date], tz: str) -> _Quiet:
    series = clean(times, values)
    day_of = local_days(series.times, tz)
    alert_days = np.array(sorted({(day - _EPOCH).days for day in left_out}), dtype=np.int64)
    quiet = ~np.isin(day_of, alert_days)
    return _Quiet(
        values=series.values[quiet],
        days=int(np.unique(day_of[quiet]).size),
        left_out_days=tuple(day_label(int(day)) for day in np.unique(day_of[~quiet])),
        left_out_readings=int((~quiet).sum()),
    )


def propose_rule(
    rule: Rule,
    times: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    k: float = DEFAULT_K,
    spo2_scale: int = 1,
    left_out: Collection[dt.date] = (),
    tz: str = OSLO,
) -> RuleProposal | str:
    """The proposal for one rule from its metric's readings in the trial period, or why there is none (too
    few readings or days). Readings on the local days `left_out` (days with an open clinical alert) are not
    used; days are local calendar days in `tz`."""
    metric = rule.metrics[0]
    bounds = METRICS[metric]
    quiet = _quiet(times, values, left_out, tz)
    if quiet.values.size < MIN_READINGS:
        return f"{metric}: {quiet.values.size} readings in the trial period{quiet.note()}, need {MIN_READINGS}"
    if quiet.days < MIN_DAYS:
        return f"{metric}: readings on {quiet.days} days in the trial period{quiet.note()}, need {MIN_DAYS}"
    summary = baseline_of(quiet.values)
    spread = max(summary.mad, bounds.min_spread)
    current = _limits_of(rule)
    normal_low = SPO2_SCALE_2_NORMAL_LOW if metric == "spo2" and spo2_scale == 2 else bounds.normal_low
    proposed = dict(current)
    held: list[str] = []
    if current["green_low"] is not None:
        floor = current["green_low"] if normal_low is None else max(current["green_low"], normal_low)
        low = _round_out(min(summary.median - k * spread, floor), bounds.resolution, down=True)
        red = current["yellow_low"]
        if red is not None and low < red:
            low, held = red, [*held, "green_low"]
        proposed["green_low"] = low
    if current["green_high"] is not None:
        ceiling = current["green_high"]
        if bounds.normal_high is not None:
            ceiling = min(ceiling, bounds.normal_high)
        high = _round_out(max(summary.median + k * spread, ceiling), bounds.resolution, down=False)
        red = current["yellow_high"]
        if red is not None and high > red:
            high, held = red, [*held, "green_high"]
        proposed["green_high"] = high
    return RuleProposal(
        rule=rule.id,
        metric=metric,
        readings=int(quiet.values.size),
        days=quiet.days,
        median=summary.median,
        spread=spread,
        current=current,
        proposed=proposed,
        held_at_red=tuple(held),
        left_out_days=quiet.left_out_days,
        left_out_readings=quiet.left_out_readings,
    )


def propose(
    protocol: Protocol,
    windows: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
    *,
    k: float = DEFAULT_K,
    left_out: Collection[dt.date] = (),
    tz: str = OSLO,
) -> tuple[list[RuleProposal], dict[str, str]]:
    """Proposals for every personal rule of the protocol from (times, values) per metric, leaving out the
    readings on the local days `left_out` (the patient's days with an open clinical alert), and per rule the
    reason it has none (too few readings or days, counting what was left out)."""
    proposals: list[RuleProposal] = []
    skipped: dict[str, str] = {}
    for rule in personal_rules(protocol):
        times, values = windows.get(rule.metrics[0], ((), ()))
        result = propose_rule(rule, times, values, k=k, spo2_scale=protocol.spo2_scale, left_out=left_out, tz=tz)
        if isinstance(result, str):
            skipped[rule.id] = result
        else:
            proposals.append(result)
    return proposals, skipped
