"""Personal limits proposed from a trial period: the floor (never inside the band the protocol and NEWS2
both call normal), the ceiling (never into red), rounding, and that a proposal is a valid override."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.personal import METRICS, personal_rules, propose, propose_rule
from alerts.protocols.load import apply_overrides, load_protocol
from alerts.protocols.schema import RuleOverride

DAY = 86_400.0
T0 = 1_780_000_000.0


def _readings(values: list[float] | np.ndarray, per_day: int = 2) -> tuple[np.ndarray, np.ndarray]:
    times = T0 + np.arange(len(values)) * DAY / per_day
    return times, np.asarray(values, dtype=float)


def test_a_low_normal_spo2_widens_the_range_but_never_into_red() -> None:
    rule = load_protocol("heart_failure").rule("hf.spo2")
    proposal = propose_rule(rule, *_readings([91, 92, 90, 91, 91, 92, 91, 90, 91, 92, 91, 91, 90, 92, 91, 91]))
    assert not isinstance(proposal, str)
    assert proposal.current["green_low"] == 94
    assert proposal.proposed["green_low"] == 92  # median 91 - 3 x 1.48 = 86.6, held at the red limit 92
    assert proposal.held_at_red == ("green_low",)
    assert proposal.proposed["yellow_low"] == 92 and proposal.changed()


def test_a_steady_person_keeps_the_band_both_the_protocol_and_news2_call_normal() -> None:
    rule = load_protocol("heart_failure").rule("hf.heart_rate")
    proposal = propose_rule(rule, *_readings(np.full(28, 66.0)))
    assert not isinstance(proposal, str)
    # The protocol's 50-100 meets NEWS2's score-0 band 51-90; min_spread 3 keeps the median +- 9 inside it.
    assert (proposal.proposed["green_low"], proposal.proposed["green_high"]) == (51, 90)
    assert proposal.spread == METRICS["heart_rate"].min_spread and proposal.held_at_red == ()


def test_a_high_normal_pulse_widens_upwards_and_rounds_outwards() -> None:
    rule = load_protocol("copd").rule("copd.heart_rate")
    values = np.random.default_rng(1).normal(95, 4, 40)
    proposal = propose_rule(rule, *_readings(values))
    assert not isinstance(proposal, str)
    expected = proposal.median + 3 * proposal.spread
    assert expected <= proposal.proposed["green_high"] < expected + 1  # type: ignore[operator]
    assert proposal.proposed["green_high"] == int(proposal.proposed["green_high"])  # type: ignore[arg-type]


def test_temperature_limits_keep_tenths() -> None:
    rule = load_protocol("general_elderly").rule("ge.temperature")
    values = np.random.default_rng(2).normal(35.9, 0.25, 30).round(1)
    proposal = propose_rule(rule, *_readings(values))
    assert not isinstance(proposal, str)
    low = proposal.proposed["green_low"]
    assert low is not None and low < 36.1 and round(low, 1) == low


def test_too_few_readings_or_days_give_a_reason_instead() -> None:
    rule = load_protocol("heart_failure").rule("hf.systolic")
    assert "readings" in str(propose_rule(rule, *_readings([120.0] * 5)))
    assert "days" in str(propose_rule(rule, *_readings([120.0] * 12, per_day=4)))
    proposals, skipped = propose(load_protocol("heart_failure"), {"heart_rate": _readings(np.full(20, 70.0))})
    assert [p.rule for p in proposals] == ["hf.heart_rate"]
    assert set(skipped) == {"hf.spo2", "hf.systolic"}


def test_only_clinical_threshold_rules_on_vital_signs_are_personalised() -> None:
    ids = {rule.id for rule in personal_rules(load_protocol("heart_failure"))}
    assert ids == {"hf.heart_rate", "hf.spo2", "hf.systolic"}  # not symptoms, weight or trend rules


@settings(max_examples=60, deadline=None)
@given(
    protocol=st.sampled_from(["heart_failure", "copd", "general_elderly"]),
    center=st.floats(0.5, 1.5),
    spread=st.floats(0.0, 0.2),
    seed=st.integers(0, 10_000),
)
def test_any_proposal_lies_between_floor_and_red_and_is_a_valid_override(
    protocol: str, center: float, spread: float, seed: int
) -> None:
    compiled = load_protocol(protocol)
    rng = np.random.default_rng(seed)
    windows = {}
    for rule in personal_rules(compiled):
        metric = rule.metrics[0]
        typical = {"heart_rate": 70, "spo2": 94, "bp.systolic": 130, "body.temperature": 36.6}[metric]
        windows[metric] = _readings(rng.normal(typical * center, typical * spread, 30))
    proposals, _ = propose(compiled, windows)
    for p in proposals:
        bounds, now, new = METRICS[p.metric], p.current, p.proposed
        if now["green_low"] is not None:
            floor = max(now["green_low"], bounds.normal_low or -np.inf)
            assert new["green_low"] is not None and new["green_low"] <= floor
            assert now["yellow_low"] is None or new["green_low"] >= now["yellow_low"]
        if now["green_high"] is not None:
            ceiling = min(now["green_high"], bounds.normal_high or np.inf)
            assert new["green_high"] is not None and new["green_high"] >= ceiling
            assert now["yellow_high"] is None or new["green_high"] <= now["yellow_high"]
    overrides = [
        RuleOverride(
            rule=p.rule, params=p.override_params(), reason="test", set_by="nurse", review_by=dt.date(2027, 1, 1)
        )
        for p in proposals
    ]
    applied = apply_overrides(compiled, overrides)
    for p in proposals:
        assert applied.rule(p.rule).spec.params["limits"] == p.proposed
