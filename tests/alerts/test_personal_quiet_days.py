"""Proposals skip alert days: readings on the local days (Europe/Oslo) on which the patient had an open
clinical alert are left out of a proposal, each rule says which of its days were left out, and a rule left
with too little data is skipped with a reason that says so."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from alerts.personal import MIN_DAYS, propose, propose_rule
from alerts.protocols.load import load_protocol

OSLO = ZoneInfo("Europe/Oslo")
FIRST = dt.date(2026, 1, 5)


def _at(day: dt.date, hour: int, minute: int = 0) -> float:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=OSLO).timestamp()


def _pulse(days: int, sick: set[int], per_day: tuple[int, ...] = (8, 20)) -> tuple[list[float], list[float]]:
    """Pulse at the hours `per_day` around 78, around 100 on the `sick` day offsets (an exacerbation)."""
    rng = np.random.default_rng(7)
    times, values = [], []
    for offset in range(days):
        for hour in per_day:
            times.append(_at(FIRST + dt.timedelta(days=offset), hour))
            values.append(float(rng.normal(100 if offset in sick else 78, 3)))
    return times, values


def test_proposals_skip_alert_days() -> None:
    rule = load_protocol("heart_failure").rule("hf.heart_rate")
    sick = set(range(6, 12))  # a week-long exacerbation in a two-week trial period
    times, values = _pulse(14, sick)
    learnt_from_everything = propose_rule(rule, times, values)
    assert not isinstance(learnt_from_everything, str)
    assert learnt_from_everything.proposed["green_high"] > 90  # type: ignore[operator]  # the illness widened it
    alert_days = {FIRST + dt.timedelta(days=offset) for offset in sick}
    quiet = propose_rule(rule, times, values, left_out=alert_days | {FIRST + dt.timedelta(days=40)})
    assert not isinstance(quiet, str)
    assert quiet.proposed["green_high"] == 90  # the person's quiet normal keeps the NEWS2 band
    assert (quiet.readings, quiet.days, quiet.left_out_readings) == (16, 8, 12)
    # Only the days that had readings of this metric are named; the day without readings is not.
    named = [f"2026-01-{day}" for day in range(11, 17)]
    assert list(quiet.left_out_days) == named and quiet.to_json()["left_out_days"] == named
    assert learnt_from_everything.left_out_days == () and learnt_from_everything.left_out_readings == 0


def test_days_are_oslo_calendar_days_also_when_the_clocks_change() -> None:
    rule = load_protocol("heart_failure").rule("hf.heart_rate")
    late = [_at(FIRST + dt.timedelta(days=d), 23, 30) for d in range(12)]  # 22:30 UTC in winter
    values = [66.0] * len(late)
    kept = propose_rule(rule, late, values, left_out={FIRST + dt.timedelta(days=1)})
    assert not isinstance(kept, str) and kept.left_out_days == ("2026-01-06",) and kept.left_out_readings == 1
    # 2026-03-29 is 23 hours long in Oslo: 00:30 local is still the 29th although it is 23:30 UTC on the 28th.
    spring = dt.date(2026, 3, 20)
    times = [_at(spring + dt.timedelta(days=d), 0, 30) for d in range(12)]
    result = propose_rule(rule, times, [66.0] * 12, left_out={dt.date(2026, 3, 29)})
    assert not isinstance(result, str) and result.left_out_days == ("2026-03-29",) and result.readings == 11


def test_a_rule_left_with_too_few_quiet_days_is_skipped_with_the_reason() -> None:
    protocol = load_protocol("heart_failure")
    times, values = _pulse(10, sick=set(range(4, 10)), per_day=(8, 12, 16, 20))
    alert_days = {FIRST + dt.timedelta(days=offset) for offset in range(4, 10)}
    proposals, skipped = propose(protocol, {"heart_rate": (times, values)}, left_out=alert_days)
    assert "hf.heart_rate" not in {p.rule for p in proposals}
    reason = skipped["hf.heart_rate"]
    assert reason == (
        f"heart_rate: readings on 4 days in the trial period after leaving out 24 readings on 6 days with an "
        f"open clinical alert, need {MIN_DAYS}"
    )
    few = propose_rule(protocol.rule("hf.heart_rate"), times[:12], values[:12], left_out=alert_days | {FIRST})
    assert few == (
        "heart_rate: 8 readings in the trial period after leaving out 4 readings on 1 days with an open clinical "
        "alert, need 10"
    )
    # Without alert days the same readings make a proposal.
    assert [p.rule for p in propose(protocol, {"heart_rate": (times, values)})[0]] == ["hf.heart_rate"]
