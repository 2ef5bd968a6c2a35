"""The clinical decisions of Detection IV, each pinned at the pure level (docs/detection.md#decisions):
the COPD partial NEWS2, no alert from one reading in NEWS2's 1-point band, one episode per deterioration,
doubtful readings that wait for a new measurement, and an irregular pulse that always reaches the nurse."""

from __future__ import annotations

import datetime as dt

import pytest

from alerts.episodes import EPISODE_RULE, EPISODE_WINDOW_S
from alerts.evaluate import LivenessFacts, PatientState, evaluate_patient
from alerts.inputs import Window
from alerts.lifecycle import Event, Transition
from alerts.protocols import ProtocolError, load_protocol
from alerts.protocols.load import apply_overrides
from alerts.protocols.schema import PatientSettings, RuleOverride
from alerts.replay import ReplayReading, replay
from alerts.suppression import Pause
from device_profiles.quality import doubtful_reasons, irregular_pulse
from tests.alerts.helpers import oslo

NOW = oslo(2026, 3, 10, 8)
HOUR, DAY = 3600.0, 86_400.0
SCALE_2 = PatientSettings(spo2_scale=2, spo2_scale_set_by="dr:7", spo2_scale_reason="hypercapnic COPD")


def _opened(transitions: tuple[Transition, ...] | list[Transition], rule: str) -> list[Transition]:
    return [t for t in transitions if t.rule == rule and t.event is Event.TRIGGERED]


# 1. COPD and the home NEWS2 -----------------------------------------------------------------------------


def _copd_news2(readings: dict[str, tuple[list[float], list[float]]], settings: PatientSettings) -> list[Transition]:
    protocol = apply_overrides(load_protocol("copd"), patient=settings)
    result = evaluate_patient(protocol, PatientState(), readings, LivenessFacts(), NOW, rules=["copd.news2"])
    return _opened(result.transitions, "copd.news2")


HOME_SET = {"spo2": ([NOW - 60], [89.0]), "heart_rate": ([NOW - 60], [84.0])}  # scale 1 scores 89 % as 3


def test_copd_partial_news2_on_scale_1_is_information_only() -> None:
    protocol = load_protocol("copd")
    result = evaluate_patient(protocol, PatientState(), HOME_SET, LivenessFacts(), NOW, rules=["copd.news2"])
    assert not result.transitions
    values = result.levels
    assert values["copd.news2"].value == "green"


def test_copd_partial_news2_alerts_on_scale_2() -> None:
    low = {"spo2": ([NOW - 60], [83.0]), "heart_rate": ([NOW - 60], [84.0])}  # scale 2 scores 83 % as 3
    assert _copd_news2(low, SCALE_2)


def test_copd_news2_alerts_on_a_complete_set_on_scale_1() -> None:
    complete = {
        **HOME_SET,
        "resp.rate": ([NOW - 120], [22.0]),
        "bp.systolic": ([NOW - 120], [128.0]),
        "body.temperature": ([NOW - 120], [37.0]),
        "consciousness": ([NOW - 120], [0.0]),
        "oxygen.supplemental": ([NOW - 120], [0.0]),
    }
    [opened] = _copd_news2(complete, PatientSettings())
    assert opened.severity.value == "red"


# 2. One reading in the lowest scoring band --------------------------------------------------------------


def _temperature(times: list[float], values: list[float]) -> list[Transition]:
    protocol = load_protocol("general_elderly")
    readings = [ReplayReading(t, "body.temperature", v) for t, v in zip(times, values, strict=True)]
    return _opened(replay(protocol, readings), "ge.temperature")


def test_one_temperature_of_36_0_raises_nothing_and_a_second_within_two_days_does() -> None:
    assert not _temperature([NOW], [36.0])
    assert _temperature([NOW, NOW + 20 * HOUR], [36.0, 35.9])
    assert not _temperature([NOW, NOW + 3 * DAY], [36.0, 35.9])  # outside the window: two single readings


def test_a_reading_in_a_3_point_band_alerts_at_once() -> None:
    [opened] = _temperature([NOW], [34.9])
    assert opened.severity.value == "red"


@pytest.mark.parametrize(
    ("protocol", "metric", "value", "rules"),
    [
        ("heart_failure", "heart_rate", 105.0, ("hf.heart_rate",)),
        ("heart_failure", "bp.systolic", 99.0, ("hf.systolic",)),
        ("general_elderly", "body.temperature", 38.5, ("ge.temperature",)),
    ],
)
def test_no_packaged_rule_alerts_on_one_reading_in_the_1_point_band(
    protocol: str, metric: str, value: float, rules: tuple[str, ...]
) -> None:
    transitions = replay(load_protocol(protocol), [ReplayReading(NOW, metric, value)])
    assert not [t for t in transitions if t.rule in rules]


def test_an_override_that_would_alert_on_one_1_point_reading_is_refused() -> None:
    override = RuleOverride(
        rule="ge.temperature", params={"n": 1, "m": 1}, reason="try", set_by="nurse:1", review_by=dt.date(2027, 1, 1)
    )
    with pytest.raises(ProtocolError, match="1-point band"):
        apply_overrides(load_protocol("general_elderly"), patient=PatientSettings(overrides=(override,)))


# 3. One episode, one alert for the nurse ----------------------------------------------------------------


def _worsening() -> list[ReplayReading]:
    """Pulse and SpO2 out of limits (twice each) and weight up 2.4 kg, all within 72 hours."""
    weights = [ReplayReading(NOW - (3 - i) * DAY, "body.weight", w) for i, w in enumerate([80.0, 80.3, 81.2, 82.4])]
    pulses = [ReplayReading(NOW + DAY + h * HOUR, "heart_rate", 118.0) for h in (0, 10)]
    spo2 = [ReplayReading(NOW + 2 * DAY + h * HOUR, "spo2", 93.0) for h in (0, 10)]
    return weights + pulses + spo2


def test_three_rules_within_72_hours_are_one_episode_with_three_pieces_of_evidence() -> None:
    transitions = replay(load_protocol("heart_failure"), _worsening())
    episodes = _opened(transitions, EPISODE_RULE)
    assert len(episodes) == 1 and episodes[0].notify
    members = [t for t in transitions if t.in_episode and t.event is Event.TRIGGERED]
    assert [t.rule for t in members] == ["hf.weight_gain_3d", "hf.heart_rate", "hf.spo2"]
    assert not any(t.notify for t in members)  # evidence notifies nobody: escalation runs once, for the episode
    escalating = [
        t
        for t in transitions
        if t.notify and t.alert_class == "clinical" and t.event in (Event.TRIGGERED, Event.SEVERITY_CHANGED)
    ]
    assert escalating == episodes
    newest = [t for t in transitions if t.rule == EPISODE_RULE and t.alert is not None][-1]
    assert newest.alert is not None
    evidence = newest.alert.last_value["evidence"]
    assert isinstance(evidence, list) and len(evidence) == 3


def test_the_episode_closes_after_72_quiet_hours_and_a_later_trigger_opens_a_new_one() -> None:
    readings = _worsening()
    normal = [ReplayReading(NOW + 3 * DAY + h * HOUR, m, v) for h in (0, 12) for m, v in
              (("heart_rate", 72.0), ("spo2", 97.0), ("body.weight", 80.2))]  # fmt: skip
    later = NOW + 3 * DAY + EPISODE_WINDOW_S + 2 * DAY
    again = [ReplayReading(later + h * HOUR, "heart_rate", 120.0) for h in (0, 10)]
    quiet_until = [ReplayReading(NOW + 3 * DAY + d * DAY, "body.weight", 80.2) for d in range(1, 6)]
    transitions = replay(load_protocol("heart_failure"), readings + normal + quiet_until + again)
    closed = [t for t in transitions if t.rule == EPISODE_RULE and t.event is Event.RESOLVED]
    assert len(closed) == 1
    assert len(_opened(transitions, EPISODE_RULE)) == 2


def test_welfare_events_and_the_irregular_pulse_stand_on_their_own() -> None:
    protocol = load_protocol("heart_failure")
    assert protocol.rule("hf.spo2").joins_episode
    assert not protocol.rule("rhythm.irregular_pulse").joins_episode
    assert not load_protocol("welfare").rule("wf.alarm_button").joins_episode


# 6. Measurement quality -------------------------------------------------------------------------------

FLAGGED = {
    "body_movement": {"measurement_status": {"raw": "0x0001", "flags": ["body_movement"]}},
    "cuff_too_loose": {"measurement_status": {"raw": "0x0002", "flags": ["cuff_too_loose"]}},
    "improper_position": {"measurement_status": {"raw": "0x0020", "flags": ["improper_position"]}},
    "low_perfusion": {"device_sensor_status": ["low_perfusion"]},
}


@pytest.mark.parametrize("flag", sorted(FLAGGED))
def test_each_status_flag_makes_a_reading_doubtful(flag: str) -> None:
    assert doubtful_reasons(FLAGGED[flag]) == (flag,)


def test_trusted_readings_and_the_irregular_pulse_flag_are_not_doubtful() -> None:
    irregular = {"measurement_status": {"raw": "0x0004", "flags": ["irregular_pulse"]}}
    assert doubtful_reasons(irregular) == () and doubtful_reasons(None) == ()
    assert irregular_pulse(irregular) is True
    assert irregular_pulse({"measurement_status": {"raw": "0x0000", "flags": []}}) is False
    assert irregular_pulse({}) is None


def _systolic(readings: list[tuple[float, float, bool]]) -> list[Transition]:
    return replay(load_protocol("hypertension"), [ReplayReading(t, "bp.systolic", v, None, d) for t, v, d in readings])


def test_a_doubtful_reading_waits_and_a_normal_remeasurement_raises_nothing() -> None:
    transitions = _systolic([(NOW, 96.0, True), (NOW + 300, 124.0, False)])
    asked = [t for t in transitions if t.event is Event.REMEASURE_REQUESTED]
    assert len(asked) == 1 and asked[0].last_input_at == NOW
    assert asked[0].explanation["wait_until"] == NOW + 900
    assert not _opened(transitions, "htn.single_reading")


def test_a_confirming_remeasurement_raises_the_alert() -> None:
    transitions = _systolic([(NOW, 96.0, True), (NOW + 300, 97.0, False)])
    [opened] = _opened(transitions, "htn.single_reading")
    assert opened.at == NOW + 300


def test_without_a_new_measurement_the_alert_comes_when_the_wait_is_over() -> None:
    transitions = _systolic([(NOW, 96.0, True)])
    [opened] = _opened(transitions, "htn.single_reading")
    assert opened.at == NOW + 900


def test_a_doubtful_reading_in_the_red_band_alerts_at_once() -> None:
    [opened] = _systolic([(NOW, 85.0, True)])[:1]
    assert opened.event is Event.TRIGGERED and opened.at == NOW


def test_the_patient_is_asked_once_per_doubtful_reading() -> None:
    protocol = load_protocol("hypertension")
    windows = {"bp.systolic": Window.of([NOW], [96.0], [True])}
    first = evaluate_patient(protocol, PatientState(), windows, LivenessFacts(), NOW + 60)
    state = PatientState().apply(first.transitions)
    second = evaluate_patient(protocol, state, windows, LivenessFacts(), NOW + 120)
    asked = [t.event for t in (*first.transitions, *second.transitions) if t.event is Event.REMEASURE_REQUESTED]
    assert len(asked) == 1


def test_an_irregular_pulse_reaches_the_nurse_even_during_a_pause() -> None:
    protocol = load_protocol("heart_failure")
    paused = PatientState(pause=Pause(start=NOW - DAY, until=NOW + DAY, reason="hospital stay"))
    readings = {"pulse.irregular": ([NOW - 60], [1.0])}
    result = evaluate_patient(protocol, paused, readings, LivenessFacts(), NOW)
    [opened] = _opened(result.transitions, "rhythm.irregular_pulse")
    assert opened.notify and opened.suppressed_by is None and not opened.in_episode


def test_home_bp_pairs_systolic_and_diastolic_by_time_not_position() -> None:
    protocol = load_protocol("hypertension")
    days = [NOW - (7 - d) * DAY for d in range(7)]
    systolic = (days, [150.0] * 7)
    # An extra, older diastolic reading (another rule's longer window) must not shift the pairs.
    diastolic = ([NOW - 20 * DAY, *days], [120.0] + [70.0] * 7)
    result = evaluate_patient(
        protocol, PatientState(), {"bp.systolic": systolic, "bp.diastolic": diastolic}, LivenessFacts(), NOW,
        rules=["htn.home_bp"],
    )  # fmt: skip
    [opened] = [t for t in result.transitions if t.rule == "htn.home_bp"]
    decision = opened.explanation["explanation"]
    assert isinstance(decision, dict) and isinstance(decision["values"], dict)
    assert decision["values"]["mean_diastolic"] == pytest.approx(70.0)
