"""The detectors a protocol rule may name, as a table: name -> detector class and how to run it.

A rule's `params` are validated by building the detector's own dataclass (pydantic checks the types, the
dataclass checks the values), so a protocol file is checked by exactly the code that will run it. Each
entry also says whether the passing of time alone can change the decision (`scheduled`): those rules are
evaluated on a schedule as well as when readings arrive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from pydantic import TypeAdapter

from alerts.aggregates import HomeBpRule, glucose_levels
from alerts.delta import BaselineRiseRule, DeltaRule
from alerts.events import BedNotBackRule, EventRule, NoActivityRule
from alerts.explain import Decision, JSONValue, Level, Status
from alerts.inputs import Context, Outcome, Remeasure
from alerts.liveness import GatewayHeartbeatRule, LowBatteryRule, PlannedMeasurementRule, SilentRule
from alerts.news2.window import METRIC_KEYS, Observation, from_stored, news2_from_observations
from alerts.series import FUTURE_TOLERANCE_S
from alerts.thresholds import ThresholdRule
from alerts.trend import CusumRule, EwmaRule, MacdRule, ZScoreRule
from device_profiles.metrics import load_catalogue

NEWS2_METRICS: Final = tuple(METRIC_KEYS.items())


@dataclass(frozen=True)
class News2Rule:
    """A (usually partial) NEWS2 from the newest readings; triggered at `min_score` or on a red score.

    The SpO2 scale comes from the patient's settings (scale 2 only when a clinician set it), never from
    the protocol file. With `partial_alerts_on_scale_1` false (COPD) a partial score on scale 1 is
    information only: it is computed and explained but raises nothing, because scale 1 scores a COPD
    patient's usual saturation as red and SpO2 is watched by the protocol's own rules; on scale 2, or with a
    complete observation set, it alerts as usual.
    """

    min_score: int = 1
    window_s: float = 3600.0
    level: Level = Level.YELLOW
    partial_alerts_on_scale_1: bool = True

    def evaluate(self, ctx: Context) -> Outcome:
        """Score the newest observation set in the windows."""
        catalogue = load_catalogue()
        observations = [
            Observation(param.value, time, from_stored(param, value, catalogue[metric].levels))
            for param, metric in NEWS2_METRICS
            for time, value in zip(ctx.window(metric).times.tolist(), ctx.window(metric).values.tolist(), strict=True)
        ]
        result = news2_from_observations(observations, scale=ctx.spo2_scale, window_s=self.window_s, now=ctx.now)
        triggered = result.level is not Level.GREEN and (result.score >= self.min_score or result.level is Level.RED)
        explanation = result.explanation
        if triggered and result.partial and ctx.spo2_scale == 1 and not self.partial_alerts_on_scale_1:
            triggered = False
            values = {**explanation.values, "information_only": "partial score on SpO2 scale 1"}
            explanation = dataclasses.replace(explanation, values=values)
        decision = Decision(
            level=result.level if triggered else Level.GREEN,
            triggered=triggered,
            status=Status.EVALUATED if observations else Status.INSUFFICIENT_DATA,
            explanation=explanation,
        )
        partial = " (partial)" if result.partial else ""
        return Outcome(
            decision, f"NEWS2 {result.score}{partial}, scale {ctx.spo2_scale}", _newest(ctx, METRIC_KEYS.values())
        )


def _newest(ctx: Context, metrics: Any) -> float | None:
    """The newest plausible reading time among `metrics` (the input a repeat is counted on)."""
    times = [ctx.window(m).times for m in metrics]
    joined = np.concatenate(times) if times else np.empty(0)
    usable = joined[np.isfinite(joined) & (joined <= ctx.now + FUTURE_TOLERANCE_S)]
    return float(usable.max()) if usable.size else None


def _values(decision: Decision) -> Mapping[str, JSONValue]:
    return decision.explanation.values


def _fmt(value: JSONValue, spec: str = ".1f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def _series(detector: Any, ctx: Context) -> Outcome:
    # Day-level rules leave out the readings the device flagged as doubtful: one of them must not move a
    # day's value or a baseline (device_profiles.quality).
    window = ctx.window(detector.metric).trusted()
    decision: Decision = detector.evaluate(window.times, window.values, now=ctx.now)
    inputs = decision.explanation.inputs
    summary = f"{detector.metric} {_fmt(inputs.get('newest_value', ''), 'g')}"
    return Outcome(decision, summary.strip(), _newest(ctx, [detector.metric]))


def _threshold(detector: ThresholdRule, ctx: Context) -> Outcome:
    window = ctx.window(detector.metric)
    decision = detector.evaluate(window.times, window.values, now=ctx.now, doubtful=window.flags())
    inputs, values = decision.explanation.inputs, decision.explanation.values
    summary = f"{detector.metric} {_fmt(inputs.get('newest_value', ''), 'g')}".strip()
    until, reading_at = values.get("awaiting_remeasure_until"), inputs.get("newest_time")
    remeasure = (
        Remeasure(detector.metric, float(reading_at), float(until))
        if isinstance(until, float) and isinstance(reading_at, float)
        else None
    )
    return Outcome(decision, summary, _newest(ctx, [detector.metric]), remeasure=remeasure)


def _delta(detector: Any, ctx: Context) -> Outcome:
    outcome = _series(detector, ctx)
    change = _fmt(_values(outcome.decision).get("change_latest_day"), "+.1f")
    summary = f"{detector.metric} {change} within {detector.days} days"
    return dataclasses.replace(outcome, summary=summary)


def _trend(detector: Any, ctx: Context) -> Outcome:
    outcome = _series(detector, ctx)
    run = _values(outcome.decision).get("flagged_days_in_a_row")
    return dataclasses.replace(outcome, summary=f"{detector.metric}: {run} day(s) outside the personal baseline")


def _home_bp(detector: HomeBpRule, ctx: Context) -> Outcome:
    # A pair is one measurement: the systolic and diastolic stored with the same time. The two windows may
    # differ in length and order, so they are matched by time, never by position.
    systolic, diastolic = ctx.window("bp.systolic").trusted(), ctx.window("bp.diastolic").trusted()
    times, at_sys, at_dia = np.intersect1d(systolic.times, diastolic.times, return_indices=True)
    decision = detector.evaluate(times, systolic.values[at_sys], diastolic.values[at_dia], now=ctx.now)
    values = decision.explanation.values
    summary = f"home BP mean {_fmt(values.get('mean_systolic'), '.0f')}/{_fmt(values.get('mean_diastolic'), '.0f')}"
    return Outcome(decision, summary, _newest(ctx, ["bp.systolic", "bp.diastolic"]))


@dataclass(frozen=True)
class GlucoseRule:
    """Consensus glucose levels (Battelino 2019) on the newest reading of `metric`."""

    metric: str = "blood.glucose"

    def evaluate(self, ctx: Context) -> Outcome:
        """The newest reading's level."""
        window = ctx.window(self.metric)
        decision = glucose_levels(window.times, window.values, now=ctx.now)
        summary = f"glucose {_fmt(decision.explanation.inputs.get('newest_value', ''), 'g')} mmol/L"
        return Outcome(decision, summary, _newest(ctx, [self.metric]))


def _self(detector: Any, ctx: Context) -> Outcome:
    result: Outcome = detector.evaluate(ctx)
    return result


@dataclass(frozen=True)
class Kind:
    """One detector a rule may name: its class, how to run it, which metrics it reads, whether it is
    evaluated on a schedule."""

    cls: type[Any]
    run: Callable[[Any, Context], Outcome]
    metrics: Callable[[Any], tuple[str, ...]]
    scheduled: bool = False

    @property
    def takes_level(self) -> bool:
        """Whether the severity slot decides the detector's level (threshold rules grade themselves)."""
        return any(f.name == "level" for f in dataclasses.fields(self.cls))

    def build(self, params: Mapping[str, Any], level: Level) -> Any:
        """The detector for one severity slot; ValueError (naming the parameter) when params are bad."""
        known = {f.name for f in dataclasses.fields(self.cls)} - {"level", "tz"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r} (known: {', '.join(sorted(known))})")
        full = {**params, "level": level} if self.takes_level else dict(params)
        return TypeAdapter(self.cls).validate_python(full)


def _one(detector: Any) -> tuple[str, ...]:
    return (str(detector.metric),)


DETECTORS: Final[Mapping[str, Kind]] = {
    "threshold": Kind(ThresholdRule, _threshold, _one),
    "delta": Kind(DeltaRule, _delta, _one),
    "above_baseline": Kind(BaselineRiseRule, _series, _one),
    "zscore": Kind(ZScoreRule, _trend, _one),
    "cusum": Kind(CusumRule, _trend, _one),
    "ewma": Kind(EwmaRule, _trend, _one),
    "macd": Kind(MacdRule, _trend, _one),
    "home_bp": Kind(HomeBpRule, _home_bp, lambda _: ("bp.systolic", "bp.diastolic")),
    "glucose": Kind(GlucoseRule, _self, _one),
    "news2": Kind(News2Rule, _self, lambda _: tuple(METRIC_KEYS.values())),
    "event": Kind(EventRule, _self, _one),
    "bed_not_back": Kind(BedNotBackRule, _self, _one, scheduled=True),
    "no_activity": Kind(NoActivityRule, _self, lambda d: tuple(d.metrics), scheduled=True),
    "silent": Kind(SilentRule, _self, _one, scheduled=True),
    "low_battery": Kind(LowBatteryRule, _self, lambda _: ("device.battery",), scheduled=True),
    "gateway_heartbeat": Kind(GatewayHeartbeatRule, _self, lambda _: (), scheduled=True),
    "planned_measurement": Kind(PlannedMeasurementRule, _self, _one, scheduled=True),
}
