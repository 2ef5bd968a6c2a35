"""The simulator's daily questionnaire: opt-in, whole-number answers in their scales, a weekly CAT whose
eight answers add up to its total, missing days, worsening under a SymptomShift, and the vital signs of the
seed left exactly as they were."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from statistics import mean, stdev

import pytest

from common.timefmt import OSLO
from device_profiles.sim import HomeSimulator, SimEvent
from device_profiles.sim.scenarios import ColdFinger, SymptomShift
from device_profiles.sim.symptoms import SymptomProfile, draw_profile

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
SCALES = {"symptom.dyspnoea": 4, "symptom.oedema": 4, "symptom.wellbeing": 4, "cat.score": 40}


def _events(sim: HomeSimulator, days: int) -> list[SimEvent]:
    return list(sim.events(until=START + timedelta(days=days)))


def _answers(events: list[SimEvent]) -> list[SimEvent]:
    return [e for e in events if e.device.role == "questionnaire"]


def _by_day(events: list[SimEvent], metric: str) -> dict[int, float]:
    return {(e.at - START).days: float(o.value) for e in _answers(events) for o in e.observations if o.metric == metric}


def test_the_questionnaire_is_opt_in_and_leaves_the_vital_signs_alone() -> None:
    plain = _events(HomeSimulator(11, START, scenarios=(ColdFinger(START.date() + timedelta(days=2), 4),)), 21)
    asked = _events(HomeSimulator(11, START, scenarios=(ColdFinger(START.date() + timedelta(days=2), 4),),
                                  questionnaire=SymptomProfile(cat=18)), 21)  # fmt: skip
    assert not _answers(plain) and len(_answers(asked)) >= 14
    others = [(e.at, e.device, e.payload, e.observations) for e in asked if e.device.role != "questionnaire"]
    assert others == [(e.at, e.device, e.payload, e.observations) for e in plain]
    # The home's kit keeps its addresses; the questionnaire screen is a device of its own.
    home = HomeSimulator(11, START, questionnaire=SymptomProfile())
    assert home.devices[:-1] == HomeSimulator(11, START).devices
    assert home.device("questionnaire").address.startswith("sim-questionnaire-")


def test_answers_are_whole_numbers_with_a_weekly_cat_and_some_days_missing() -> None:
    sim = HomeSimulator(3, START, questionnaire=SymptomProfile(cat=18, missing_day=0.15))
    events = _answers(_events(sim, 140))
    assert events == _answers(_events(HomeSimulator(3, START, questionnaire=SymptomProfile(cat=18)), 140))
    assert 0.75 <= len(events) / 140 <= 0.95  # 15 % of days unanswered
    cats = 0
    for event in events:
        sent = json.loads(event.payload.data)
        assert event.payload.kind == "questionnaire"
        for o in event.observations:
            assert isinstance(o.value, int) and 0 <= o.value <= SCALES[o.metric], o
            assert (o.unit, o.measured_at, o.device_id) == ("{score}", event.at, event.device.address)
        scores = {o.metric: o.value for o in event.observations}
        assert scores["symptom.dyspnoea"] == sent["dyspnoea"] and scores["symptom.wellbeing"] == sent["wellbeing"]
        if "cat.score" in scores:
            cats += 1
            assert event.at.astimezone(OSLO).weekday() == 0  # the CAT is the Monday questionnaire's
            [cat] = [o for o in event.observations if o.metric == "cat.score"]
            items = cat.context["cat_items"]
            assert items == sent["cat_items"] and len(items) == 8 and all(0 <= i <= 5 for i in items)
            assert sum(items) == cat.value
    assert 14 <= cats <= 20  # 20 Mondays, less the unanswered ones
    totals = list(_by_day(events, "cat.score").values())
    assert mean(totals) == pytest.approx(18, abs=1.5) and 1.0 <= stdev(totals) <= 3.5


def test_symptoms_worsen_under_a_symptom_shift_before_the_event() -> None:
    shift = SymptomShift(START + timedelta(days=30), ramp_days=8, dyspnoea=2.0, oedema=1.5, wellbeing=-1.5, cat=6,
                         hold_days=14)  # fmt: skip
    sim = HomeSimulator(5, START, scenarios=(shift,), questionnaire=SymptomProfile(cat=16, missing_day=0.0))
    events = _events(sim, 60)

    def change(metric: str) -> float:
        daily = _by_day(events, metric)
        before = [v for day, v in daily.items() if day < 30]
        plateau = [v for day, v in daily.items() if 38 <= day < 52]
        return mean(plateau) - mean(before)

    assert change("symptom.dyspnoea") == pytest.approx(2.0, abs=0.5)
    assert change("symptom.oedema") == pytest.approx(1.5, abs=0.5)
    assert change("symptom.wellbeing") == pytest.approx(-1.5, abs=0.5)
    assert change("cat.score") == pytest.approx(6, abs=3)
    # Worse from the ramp on, back to normal once the hold is over.
    assert mean(v for day, v in _by_day(events, "symptom.dyspnoea").items() if day >= 53) < 1.2


@pytest.mark.parametrize(
    "bad",
    [
        {"dyspnoea": 5.0},
        {"wellbeing": -1.0},
        {"cat": 41.0},
        {"missing_day": 1.5},
        {"cat_noise": -0.1},
        {"hour": 24.0},
        {"cat_weekday": 7},
    ],
)
def test_a_profile_outside_its_scales_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        SymptomProfile(**bad)  # type: ignore[arg-type]


def test_cohort_profiles_are_drawn_within_their_sources() -> None:
    rng = random.Random("profiles")
    heart, lungs = (
        [draw_profile(rng, copd=False) for _ in range(200)],
        [draw_profile(rng, copd=True) for _ in range(200)],
    )
    assert all(p.cat is None for p in heart) and all(p.cat is not None and 5 <= p.cat <= 35 for p in lungs)
    assert mean(p.cat or 0 for p in lungs) == pytest.approx(19.4, abs=1.5)
    assert all(0.07 <= p.missing_day <= 0.24 for p in heart + lungs)
    assert mean(p.dyspnoea for p in lungs) > mean(p.dyspnoea for p in heart)
