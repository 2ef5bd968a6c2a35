"""The alert lifecycle and suppression at the pure level: what is suppressed, what is not, and the record."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.evaluate import Evaluation, LivenessFacts, PatientState, Readings, evaluate_patient
from alerts.explain import Level
from alerts.inputs import DeviceFacts, GatewayFacts
from alerts.lifecycle import Event, OpenAlert, Suppression, Transition, Verdict, acknowledge, resolve, snooze, step
from alerts.protocols import Protocol, load_protocol
from alerts.protocols.load import compile_rule
from alerts.protocols.model import Rule
from alerts.protocols.schema import RuleSpec
from alerts.suppression import Pause, Silence
from tests.alerts.helpers import oslo

HF = load_protocol("heart_failure")
WELFARE = load_protocol("welfare")
NOW = oslo(2026, 3, 10, 7)
DAY = 86_400.0
WEIGHT_GAIN = {"body.weight": ([NOW - 3 * DAY, NOW - 2 * DAY, NOW - DAY, NOW], [80.0, 80.2, 81.3, 82.6])}
BUTTON = {"alarm.button": ([NOW - 30], [1.0])}
NO_FACTS = LivenessFacts()


def verdict(triggered: bool = True, severity: Level = Level.YELLOW, at: float = 0.0, **extra: object) -> Verdict:
    fields: dict[str, object] = {
        "rule": "r.x",
        "alert_class": "clinical",
        "triggered": triggered,
        "judged": True,
        "severity": severity,
        "at": at,
        "message": "m",
        "auto_resolve": True,
        "explanation": {},
        "last_input_at": at,
    }
    return Verdict(**{**fields, **extra})  # type: ignore[arg-type]


def run(
    protocol: Protocol, state: PatientState, readings: Readings, facts: LivenessFacts = NO_FACTS, now: float = NOW
) -> Evaluation:
    """Evaluate every rule of the protocol."""
    return evaluate_patient(protocol, state, readings, facts, now)


def only(evaluation: Evaluation, rule: str) -> list[Transition]:
    """One rule's transitions."""
    return [t for t in evaluation.transitions if t.rule == rule]


def test_trigger_repeat_escalate_and_resolve() -> None:
    (opened,) = step(None, verdict(at=1))
    assert (opened.event, opened.notify, opened.severity) == (Event.TRIGGERED, True, Level.YELLOW)
    alert = opened.alert
    assert alert is not None
    assert step(alert, verdict(at=2, last_input_at=1)) == ()  # the clock moved, no new reading: not a repeat
    (repeat,) = step(alert, verdict(at=2))
    assert repeat.event is Event.REPEATED and repeat.alert is not None and repeat.alert.repeats == 1
    (worse,) = step(repeat.alert, verdict(severity=Level.RED, at=3))
    assert (worse.event, worse.severity, worse.notify) == (Event.SEVERITY_CHANGED, Level.RED, True)
    assert worse.alert is not None
    (eased,) = step(worse.alert, verdict(severity=Level.YELLOW, at=4))
    assert eased.event is Event.REPEATED and eased.severity is Level.RED  # red does not quietly turn yellow
    assert step(worse.alert, verdict(triggered=False, judged=False, at=5)) == ()  # no data never resolves
    (closed,) = step(worse.alert, verdict(triggered=False, at=5))
    assert (closed.event, closed.severity, closed.alert) == (Event.RESOLVED, Level.RED, None)


def test_acknowledged_alerts_stay_open_and_people_resolve_alarms() -> None:
    alert = OpenAlert("wf.alarm_button", "clinical", Level.RED, opened_at=1, auto_resolve=False)
    assert step(alert, verdict(triggered=False, at=2, auto_resolve=False)) == ()
    acked, record = acknowledge(alert, at=3, by="nurse:1")
    assert acked.state == "acknowledged" and record.event is Event.ACKNOWLEDGED
    closed = resolve(acked, at=4, by="nurse:1", reason="visited, all well")
    assert closed.event is Event.RESOLVED and closed.alert is None and "visited" in closed.message


def test_snooze_stops_re_notification_until_it_ends_but_not_a_rise_to_red() -> None:
    alert = snooze(OpenAlert("r.x", "clinical", Level.YELLOW, opened_at=0, auto_resolve=True, last_input_at=0), 100)
    (during,) = step(alert, verdict(at=50))
    assert (during.notify, during.suppressed_by) == (False, Suppression.SNOOZED)
    (after,) = step(alert, verdict(at=150))
    assert (after.notify, after.suppressed_by) == (True, None)
    (red,) = step(alert, verdict(severity=Level.RED, at=60))
    assert red.notify and red.event is Event.SEVERITY_CHANGED


def test_silence_blocks_new_alerts_of_one_rule_and_records_it() -> None:
    silence = Silence("hf.weight_gain_3d", until=NOW + 3600, reason="known fluid retention", set_by="nurse:1")
    result = run(HF, PatientState(silences=(silence,)), WEIGHT_GAIN)
    (record,) = only(result, "hf.weight_gain_3d")
    assert (record.event, record.suppressed_by, record.notify) == (Event.SUPPRESSED, Suppression.SILENCED, False)
    assert record.explanation["parameters"]["detector"] == "delta"  # type: ignore[index]
    later = run(HF, PatientState(silences=(silence,)), WEIGHT_GAIN, now=NOW + 7200)
    assert [t.event for t in only(later, "hf.weight_gain_3d")] == [Event.TRIGGERED]


def test_silence_needs_a_reason_and_never_blocks_an_alarm() -> None:
    with pytest.raises(ValueError, match="reason"):
        Silence("wf.alarm_button", until=NOW + 60, reason="", set_by="nurse:1")
    silence = Silence("wf.alarm_button", until=NOW + 3600, reason="testing the button", set_by="nurse:1")
    (press,) = only(run(WELFARE, PatientState(silences=(silence,)), BUTTON), "wf.alarm_button")
    assert press.event is Event.TRIGGERED and press.notify


def test_pause_suspends_vitals_keeps_alarms_and_liveness_and_reminds_when_it_ends() -> None:
    pause = Pause(start=NOW - DAY, until=NOW + DAY, reason="admitted to hospital")
    state = PatientState(pause=pause)
    (weight,) = only(run(HF, state, WEIGHT_GAIN), "hf.weight_gain_3d")
    assert (weight.event, weight.suppressed_by) == (Event.SUPPRESSED, Suppression.PAUSED)
    (press,) = only(run(WELFARE, state, BUTTON), "wf.alarm_button")
    assert press.event is Event.TRIGGERED and press.suppressed_by is None
    facts = LivenessFacts(gateways=(GatewayFacts("gw", last_heartbeat=NOW - 3600),))
    (gateway,) = only(run(HF, state, {}, facts), "live.gateway_heartbeat")
    assert gateway.event is Event.TRIGGERED
    ended = run(HF, state, {}, now=NOW + DAY)
    assert ended.transitions[0].event is Event.PAUSE_ENDED and ended.transitions[0].notify
    assert state.apply(ended.transitions).pause is None


def test_a_suppressed_event_is_not_alerted_later() -> None:
    door = {"door.open": ([oslo(2026, 3, 10, 2, 10)], [1.0])}
    pause = Pause(start=NOW - DAY, until=NOW + DAY, reason="respite stay")
    state = PatientState(pause=pause)
    first = run(WELFARE, state, door)
    (record,) = only(first, "wf.door_at_night")
    assert record.suppressed_by is Suppression.PAUSED
    after = state.apply(first.transitions)
    assert only(run(WELFARE, dataclasses.replace(after, pause=None), door), "wf.door_at_night") == []


def test_gateway_down_inhibits_the_silent_sensors_behind_it() -> None:
    motion = DeviceFacts("pir-1", ("motion",), last_seen=NOW - 20 * 3600, gateway_id="gw")
    down = LivenessFacts((motion,), (GatewayFacts("gw", last_heartbeat=NOW - 20 * 3600),))
    result = run(WELFARE, PatientState(), {}, down)
    (gateway,) = only(result, "live.gateway_heartbeat")
    assert (gateway.event, gateway.severity) == (Event.TRIGGERED, Level.RED)
    (sensor,) = only(result, "live.motion_sensor_silent")
    assert (sensor.event, sensor.suppressed_by, sensor.notify) == (Event.SUPPRESSED, Suppression.INHIBITED, False)
    up = LivenessFacts((motion,), (GatewayFacts("gw", last_heartbeat=NOW - 60),))
    (silent,) = only(run(WELFARE, PatientState(), {}, up), "live.motion_sensor_silent")
    assert silent.event is Event.TRIGGERED


def test_a_reading_from_elsewhere_does_not_make_a_silent_device_heard() -> None:
    """A pulse entered by a nurse at a visit (or from another device) is in the patient's window, but only the
    oximeter's own messages say that the oximeter still talks."""
    oximeter = DeviceFacts("oximeter-1", ("spo2", "heart_rate"), last_seen=NOW - 40 * 3600, gateway_id="gw")
    facts = LivenessFacts((oximeter,), (GatewayFacts("gw", last_heartbeat=NOW - 60),))
    protocol = dataclasses.replace(WELFARE, rules=(*WELFARE.rules, _oximeter_silent()))
    entered = {"heart_rate": ([NOW - 60], [72.0]), "spo2": ([NOW - 60], [96.0])}
    (silent,) = only(run(protocol, PatientState(), entered, facts), "test.oximeter_silent")
    assert silent.event is Event.TRIGGERED
    assert silent.explanation["explanation"]["values"]["silent"][0]["last_heard"] == NOW - 40 * 3600  # type: ignore[index]


def _oximeter_silent() -> Rule:
    spec = RuleSpec.model_validate(
        {"id": "test.oximeter_silent", "title": "Oximeter silent", "class": "liveness", "detector": "silent",
         "params": {"metric": "spo2"}, "severities": {"yellow": {"hours": 24}}, "auto_resolve": True,
         "source": "liveness"}
    )  # fmt: skip
    return compile_rule(spec, "test")


def test_a_failing_detector_is_reported_and_the_others_still_run() -> None:
    broken = {"body.weight": ([NOW], [80.0]), "spo2": ([NOW - 3600, NOW], [85.0, 85.0])}  # low twice (n=2 of 2)
    bad_rule = dataclasses.replace(HF.rule("hf.weight_gain_3d"), slots=((Level.YELLOW, object()),))
    protocol = dataclasses.replace(HF, rules=(bad_rule, HF.rule("hf.spo2")))
    result = run(protocol, PatientState(), broken)
    # The rule's trigger opens the patient's worsening episode (alerts.episodes) and is recorded as its evidence.
    assert [(t.event, t.rule) for t in result.transitions] == [
        (Event.DETECTOR_FAILED, "hf.weight_gain_3d"),
        (Event.TRIGGERED, "episode.clinical"),
        (Event.TRIGGERED, "hf.spo2"),
    ]


def test_evaluation_is_deterministic() -> None:
    assert run(HF, PatientState(), WEIGHT_GAIN) == run(HF, PatientState(), WEIGHT_GAIN)


@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.sampled_from([Level.YELLOW, Level.RED]), st.booleans()),
        max_size=30,
    ),
    st.booleans(),
)
def test_lifecycle_invariants(steps: list[tuple[bool, bool, Level, bool]], auto_resolve: bool) -> None:
    alert: OpenAlert | None = None
    for i, (triggered, judged, severity, new_input) in enumerate(steps, start=1):
        before = alert
        v = verdict(triggered, severity, at=i, judged=judged, auto_resolve=auto_resolve)
        v = dataclasses.replace(v, last_input_at=float(i if new_input else 0))
        for t in step(alert, v):
            assert t.event in (Event.TRIGGERED, Event.REPEATED, Event.SEVERITY_CHANGED, Event.RESOLVED)
            if t.event is Event.RESOLVED:
                assert auto_resolve and before is not None
            if t.event is Event.TRIGGERED:
                assert before is None  # never a second open alert
            if before is not None and t.alert is not None:
                assert t.alert.severity.rank >= before.severity.rank
                assert t.alert.repeats >= before.repeats
            alert = t.alert
