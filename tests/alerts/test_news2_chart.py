"""Every band edge of every NEWS2 parameter on both scales, written out by hand from the RCP 2017 chart.

These cases are deliberately not generated from alerts.news2.chart: they are the chart read a second
time, so a transcription slip in the table shows up as a failing case here.
"""

from __future__ import annotations

import pytest

from alerts.news2 import Band, Consciousness, News2Input, Param, score_news2

NORMAL = {
    "rr": 16,
    "spo2": 97,
    "oxygen": False,
    "sbp": 125,
    "pulse": 70,
    "consciousness": Consciousness.A,
    "temp": 37.0,
}

# (parameter, value, expected subscore): both sides of every edge in chart 1.
EDGES_BOTH_SCALES = [
    ("rr", 0, 3),
    ("rr", 8, 3),
    ("rr", 9, 1),
    ("rr", 11, 1),
    ("rr", 12, 0),
    ("rr", 20, 0),
    ("rr", 21, 2),
    ("rr", 24, 2),
    ("rr", 25, 3),
    ("rr", 60, 3),
    ("sbp", 60, 3),
    ("sbp", 90, 3),
    ("sbp", 91, 2),
    ("sbp", 100, 2),
    ("sbp", 101, 1),
    ("sbp", 110, 1),
    ("sbp", 111, 0),
    ("sbp", 219, 0),
    ("sbp", 220, 3),
    ("sbp", 260, 3),
    ("pulse", 30, 3),
    ("pulse", 40, 3),
    ("pulse", 41, 1),
    ("pulse", 50, 1),
    ("pulse", 51, 0),
    ("pulse", 90, 0),
    ("pulse", 91, 1),
    ("pulse", 110, 1),
    ("pulse", 111, 2),
    ("pulse", 130, 2),
    ("pulse", 131, 3),
    ("pulse", 200, 3),
    ("temp", 34.0, 3),
    ("temp", 35.0, 3),
    ("temp", 35.1, 1),
    ("temp", 36.0, 1),
    ("temp", 36.1, 0),
    ("temp", 38.0, 0),
    ("temp", 38.1, 1),
    ("temp", 39.0, 1),
    ("temp", 39.1, 2),
    ("temp", 41.0, 2),
]

SPO2_SCALE_1 = [(70, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]

# Scale 2, (spo2, on oxygen, expected SpO2 subscore). On air anything from 88 up scores 0.
SPO2_SCALE_2 = [
    (70, False, 3),
    (83, False, 3),
    (84, False, 2),
    (85, False, 2),
    (86, False, 1),
    (87, False, 1),
    (88, False, 0),
    (92, False, 0),
    (93, False, 0),
    (94, False, 0),
    (96, False, 0),
    (97, False, 0),
    (100, False, 0),
    (83, True, 3),
    (84, True, 2),
    (86, True, 1),
    (88, True, 0),
    (92, True, 0),
    (93, True, 1),
    (94, True, 1),
    (95, True, 2),
    (96, True, 2),
    (97, True, 3),
    (100, True, 3),
]


def _score(scale: int = 1, **changes: object) -> tuple[int, dict[Param, int], Band]:
    result = score_news2(News2Input(scale=scale, **{**NORMAL, **changes}))  # type: ignore[arg-type]
    return result.score, dict(result.subscores), result.band


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize(("param", "value", "expected"), EDGES_BOTH_SCALES)
def test_band_edges_on_both_scales(scale: int, param: str, value: float, expected: int) -> None:
    _, subscores, _ = _score(scale, **{param: value})
    assert subscores[Param(param)] == expected


@pytest.mark.parametrize(("spo2", "expected"), SPO2_SCALE_1)
def test_spo2_scale_1(spo2: int, expected: int) -> None:
    _, subscores, _ = _score(1, spo2=spo2)
    assert subscores[Param.SPO2] == expected


@pytest.mark.parametrize(("spo2", "expected"), [(93, 2), (97, 0)])
def test_spo2_scale_1_ignores_oxygen_for_the_spo2_band(spo2: int, expected: int) -> None:
    score, subscores, _ = _score(1, spo2=spo2, oxygen=True)
    assert subscores[Param.SPO2] == expected
    assert subscores[Param.OXYGEN] == 2
    assert score == expected + 2


@pytest.mark.parametrize(("spo2", "oxygen", "expected"), SPO2_SCALE_2)
def test_spo2_scale_2(spo2: int, oxygen: bool, expected: int) -> None:
    _, subscores, _ = _score(2, spo2=spo2, oxygen=oxygen)
    assert subscores[Param.SPO2] == expected


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize(("oxygen", "expected"), [(False, 0), (True, 2)])
def test_supplemental_oxygen_adds_two_on_both_scales(scale: int, oxygen: bool, expected: int) -> None:
    _, subscores, _ = _score(scale, spo2=90, oxygen=oxygen)
    assert subscores[Param.OXYGEN] == expected


@pytest.mark.parametrize(("level", "expected"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_acvpu(level: str, expected: int) -> None:
    _, subscores, _ = _score(consciousness=Consciousness(level))
    assert subscores[Param.CONSCIOUSNESS] == expected


@pytest.mark.parametrize(
    ("temp", "expected"),
    [
        (35.04, 3),
        (35.05, 1),
        (36.04, 1),
        (36.05, 0),
        (38.04, 0),
        (38.05, 1),
        (39.04, 1),
        (39.05, 2),
        (35.049999, 3),
        (38.0499, 0),
    ],
)
def test_temperature_is_rounded_half_up_to_a_tenth(temp: float, expected: int) -> None:
    _, subscores, _ = _score(temp=temp)
    assert subscores[Param.TEMP] == expected


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        ("rr", 8.5, 1),
        ("rr", 8.49, 3),
        ("pulse", 90.5, 1),
        ("pulse", 90.4, 0),
        ("sbp", 219.5, 3),
        ("spo2", 95.5, 0),
    ],
)
def test_whole_number_parameters_are_rounded_half_up(param: str, value: float, expected: int) -> None:
    _, subscores, _ = _score(**{param: value})
    assert subscores[Param(param)] == expected


@pytest.mark.parametrize(
    ("changes", "score", "band"),
    [
        ({}, 0, Band.LOW),
        ({"rr": 21}, 2, Band.LOW),
        ({"rr": 21, "pulse": 111}, 4, Band.LOW),
        ({"rr": 25}, 3, Band.LOW_MEDIUM),
        ({"consciousness": Consciousness.C}, 3, Band.LOW_MEDIUM),
        ({"consciousness": Consciousness.U, "temp": 38.5}, 4, Band.LOW_MEDIUM),
        ({"rr": 21, "pulse": 111, "temp": 38.5}, 5, Band.MEDIUM),
        ({"rr": 25, "temp": 39.5}, 5, Band.MEDIUM),
        ({"rr": 21, "pulse": 111, "temp": 39.5}, 6, Band.MEDIUM),
        ({"rr": 25, "pulse": 111, "temp": 38.5}, 6, Band.MEDIUM),
        ({"rr": 25, "pulse": 111, "temp": 39.5}, 7, Band.HIGH),
        (
            {
                "rr": 5,
                "spo2": 85,
                "oxygen": True,
                "sbp": 80,
                "pulse": 150,
                "consciousness": Consciousness.U,
                "temp": 34.0,
            },
            20,
            Band.HIGH,
        ),
    ],
)
def test_chart_3_bands(changes: dict[str, object], score: int, band: Band) -> None:
    got_score, _, got_band = _score(**changes)
    assert (got_score, got_band) == (score, band)


def test_acceptance_examples_from_the_issue() -> None:
    assert _score(1)[0::2] == (0, Band.LOW)
    assert _score(1, rr=25)[0::2] == (3, Band.LOW_MEDIUM)
    assert _score(2, spo2=97, oxygen=False)[0::2] == (0, Band.LOW)
    assert _score(2, spo2=97, oxygen=True)[0::2] == (5, Band.MEDIUM)
