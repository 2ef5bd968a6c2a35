"""NEWS2 partial results, validation, and which timed observations form one observation set."""

from __future__ import annotations

import json
import math

import pytest

from alerts.detectors import News2Rule
from alerts.inputs import Context, Window
from alerts.news2 import (
    Band,
    Consciousness,
    News2Input,
    Observation,
    Param,
    news2_from_observations,
    score_news2,
)

T0 = 1_750_000_000.0
FULL = {"rr": 16, "spo2": 97, "oxygen": False, "sbp": 125, "pulse": 70, "consciousness": "A", "temp": 37.0}


def _observations(at: float, **values: object) -> list[Observation]:
    return [Observation(param, at, value) for param, value in values.items()]  # type: ignore[arg-type]


def test_missing_parameters_make_a_partial_lower_bound() -> None:
    result = score_news2(News2Input(spo2=97, oxygen=False, sbp=125, pulse=70, temp=37.0))
    assert result.partial
    assert result.missing == (Param.RR, Param.CONSCIOUSNESS)
    assert result.summary()["missing"] == ["rr", "consciousness"]
    assert any("partial" in note for note in result.explanation.notes)


def test_nothing_measured_is_partial_zero() -> None:
    result = score_news2(News2Input())
    assert (result.score, result.band, result.partial) == (0, Band.LOW, True)
    assert len(result.missing) == len(Param)


def test_unknown_air_or_oxygen_is_missing_and_scored_as_air_on_scale_2() -> None:
    result = score_news2(News2Input(spo2=97, scale=2))
    assert Param.OXYGEN in result.missing
    assert result.subscores[Param.SPO2] == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"spo2": 150},
        {"spo2": -1},
        {"temp": math.nan},
        {"pulse": math.inf},
        {"rr": 1000},
        {"temp": 12.0},
        {"scale": 3},
        {"consciousness": "X"},
        {"oxygen": "yes"},
    ],
)
def test_invalid_values_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        News2Input(**bad)  # type: ignore[arg-type]


def test_result_is_json_with_explanation() -> None:
    result = score_news2(News2Input(**{**FULL, "consciousness": Consciousness.A}))  # type: ignore[arg-type]
    stored = json.loads(json.dumps(result.to_json()))
    assert stored["explanation"]["rule"] == "news2"
    assert stored["explanation"]["inputs"]["temp_rounded"] == "37.0"
    assert stored["level"] == "green"


def test_observations_within_the_window_of_the_newest_are_used() -> None:
    obs = _observations(T0, **FULL)
    result = news2_from_observations(obs)
    assert (result.score, result.partial) == (0, False)


def test_observations_older_than_the_window_count_as_missing() -> None:
    obs = _observations(T0, **{k: v for k, v in FULL.items() if k != "rr"})
    obs += _observations(T0 - 3601, rr=30)
    result = news2_from_observations(obs)
    assert result.missing == (Param.RR,)
    assert result.score == 0
    assert any("too old" in note for note in result.explanation.notes)


def test_window_is_configurable() -> None:
    obs = _observations(T0, **{k: v for k, v in FULL.items() if k != "rr"}) + _observations(T0 - 3601, rr=30)
    assert news2_from_observations(obs, window_s=7200).subscores[Param.RR] == 3


def test_exactly_sixty_minutes_old_is_still_inside() -> None:
    obs = _observations(T0, **{k: v for k, v in FULL.items() if k != "rr"}) + _observations(T0 - 3600, rr=30)
    assert news2_from_observations(obs).subscores[Param.RR] == 3


def test_out_of_order_arrival_uses_the_newest_per_parameter() -> None:
    obs = _observations(T0, **FULL) + _observations(T0 - 600, pulse=140)
    obs.reverse()
    assert news2_from_observations(obs).subscores[Param.PULSE] == 0


def test_duplicated_timestamp_last_given_wins() -> None:
    obs = _observations(T0, **FULL) + _observations(T0, pulse=140)
    assert news2_from_observations(obs).subscores[Param.PULSE] == 3


def test_future_observation_from_a_clock_jump_is_skipped() -> None:
    obs = _observations(T0, **FULL) + _observations(T0 + 86_400 * 365, pulse=140)
    result = news2_from_observations(obs, now=T0 + 60)
    assert result.subscores[Param.PULSE] == 0
    assert any("future" in note for note in result.explanation.notes)


def test_clock_jump_without_now_makes_the_real_set_too_old() -> None:
    # Without `now` the detector cannot tell a wrong clock; the jumped reading then defines the set and
    # the rest is named missing rather than silently mixed in.
    obs = _observations(T0, **FULL) + _observations(T0 + 86_400, pulse=140)
    result = news2_from_observations(obs)
    assert result.partial
    assert result.missing == tuple(p for p in Param if p is not Param.PULSE)


@pytest.mark.parametrize(
    "bad",
    [
        Observation("pulse", math.nan, 70),
        Observation("pulse", T0, math.nan),
        Observation("pulse", T0, 999),
        Observation("pulse", T0, "fast"),
        Observation("heart", T0, 70),
        Observation("oxygen", T0, 1),
        Observation("consciousness", T0, "Q"),
    ],
)
def test_invalid_observations_are_skipped_not_raised(bad: Observation) -> None:
    result = news2_from_observations([*_observations(T0 - 10, **FULL), bad])
    assert result.score == 0
    assert any(note.startswith("skipped") for note in result.explanation.notes)


def test_no_observations_at_all() -> None:
    result = news2_from_observations([])
    assert result.partial
    assert result.score == 0


def _stored_windows(values: dict[str, float]) -> dict[str, Window]:
    return {metric: Window.of([T0], [value]) for metric, value in values.items()}


def test_the_rule_reads_stored_levels_as_acvpu_and_oxygen() -> None:
    """Consciousness and oxygen are stored as the index of their catalogue level (C is 1, oxygen is 1)."""
    stored = {"resp.rate": 16, "spo2": 97, "oxygen.supplemental": 1, "bp.systolic": 125, "heart_rate": 70,
              "consciousness": 1, "body.temperature": 37.0}  # fmt: skip
    outcome = News2Rule().evaluate(Context(now=T0 + 60, windows=_stored_windows(stored)))
    values = outcome.decision.explanation.values
    assert values["subscores"] == {"rr": 0, "spo2": 0, "oxygen": 2, "sbp": 0, "pulse": 0, "consciousness": 3, "temp": 0}
    assert outcome.decision.explanation.inputs["consciousness"] == "C"
    assert "(partial)" not in outcome.summary


def test_a_stored_index_that_names_no_level_is_skipped_and_named() -> None:
    outcome = News2Rule().evaluate(Context(now=T0 + 60, windows=_stored_windows({"consciousness": 7, "spo2": 97})))
    notes = outcome.decision.explanation.notes
    assert any(note.startswith("skipped consciousness") for note in notes), notes
    assert "consciousness" not in outcome.decision.explanation.values["subscores"]  # type: ignore[operator]
