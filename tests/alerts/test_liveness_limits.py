"""Liveness limits with an injected clock (issue 20): a gateway or device raises nothing before its stated limit,
counted from its enrolment or assignment while nothing was ever heard, and a raised alert resolves on the next
reading or heartbeat. The clock is the `now` handed to the pure evaluation; nothing here sleeps."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from hypothesis import given
from hypothesis import strategies as st

from alerts.evaluate import LivenessFacts, PatientState, evaluate_patient
from alerts.inputs import Context, DeviceFacts, GatewayFacts
from alerts.liveness import GatewayHeartbeatRule, SilentRule
from alerts.protocols import load_protocol
from tests.alerts.helpers import oslo

WELFARE = load_protocol("welfare")
T0 = oslo(2026, 3, 10, 9)  # the moment the kit is enrolled and its devices assigned
MINUTE, HOUR = 60.0, 3600.0
GATEWAY_RULE, MOTION_RULE, BUTTON_RULE = (
    "live.gateway_heartbeat",
    "live.motion_sensor_silent",
    "live.alarm_button_silent",
)

Facts = Callable[[float], LivenessFacts]


def _timeline(facts: Facts, moments: Iterable[float | tuple[float, list[str] | None]], rule: str) -> list[
    tuple[int, str, str]
]:  # fmt: skip
    """(offset from T0, event, severity) of `rule` when the patient is evaluated at each moment, in order: the
    whole protocol (the clock-driven sweep), or for a moment given as (time, metrics) the rules a new reading
    of those metrics queues."""
    state, seen = PatientState(), []
    for moment in moments:
        now, metrics = moment if isinstance(moment, tuple) else (moment, None)
        rules = None if metrics is None else set(WELFARE.rules_for_metrics(set(metrics)))
        result = evaluate_patient(WELFARE, state, {}, facts(now), now, rules=rules)
        state = state.apply(result.transitions)
        seen += [(round(now - T0), t.event.value, t.severity.value) for t in result.transitions if t.rule == rule]
    return seen


def _new_kit(heard: Callable[[float], float | None] = lambda _: None, heartbeat: Callable[[float], float | None] = (
    lambda _: None)) -> Facts:  # fmt: skip
    """A gateway enrolled at T0 with a motion sensor and an alarm button assigned at T0; `heard` gives the
    sensors' last message and `heartbeat` the gateway's newest heartbeat as they stand at a moment."""

    def at(now: float) -> LivenessFacts:
        devices = tuple(
            DeviceFacts(name, (metric,), last_seen=heard(now), gateway_id="gw", since=T0)
            for name, metric in (("pir", "motion"), ("button", "alarm.button"))
        )
        return LivenessFacts(devices, (GatewayFacts("gw", last_heartbeat=heartbeat(now), since=T0),))

    return at


def test_a_newly_enrolled_gateway_raises_nothing_before_its_limit() -> None:
    moments = [T0 + m * MINUTE for m in (1, 5, 14, 16, 29, 31)]
    # Never heard: the 15 / 30 minutes count from the enrolment, not from the beginning of time.
    assert _timeline(_new_kit(), moments, GATEWAY_RULE) == [
        (round(16 * MINUTE), "triggered", "yellow"),
        (round(31 * MINUTE), "severity_changed", "red"),
    ]


def test_a_newly_assigned_device_raises_nothing_before_its_limit() -> None:
    heartbeat = _new_kit(heartbeat=lambda now: now - 30)  # the gateway is up
    moments = [T0 + h * HOUR for h in (0.02, 1, 11.9, 12.1, 23.9, 24.1, 71.9, 72.1)]
    assert _timeline(heartbeat, moments, MOTION_RULE) == [(round(12.1 * HOUR), "triggered", "yellow")]
    assert _timeline(heartbeat, moments, BUTTON_RULE) == [
        (round(24.1 * HOUR), "triggered", "yellow"),
        (round(72.1 * HOUR), "severity_changed", "red"),
    ]


def test_a_device_heard_before_its_assignment_counts_from_the_assignment() -> None:
    # A sensor moved from another home: its last message there says nothing about this patient's home.
    moved = _new_kit(heard=lambda _: T0 - 5 * 24 * HOUR, heartbeat=lambda now: now - 30)
    assert _timeline(moved, [T0 + HOUR, T0 + 11.9 * HOUR], MOTION_RULE) == []
    assert _timeline(moved, [T0 + 12.1 * HOUR], MOTION_RULE) == [(round(12.1 * HOUR), "triggered", "yellow")]


def test_once_heard_the_limit_counts_from_the_last_message() -> None:
    def kit(quiet_h: float) -> Facts:
        return _new_kit(heard=lambda now: now - quiet_h * HOUR, heartbeat=lambda now: now - 30)

    later = [T0 + 20 * 24 * HOUR]
    assert _timeline(kit(11.9), later, MOTION_RULE) == []
    assert _timeline(kit(12.1), later, MOTION_RULE) == [(round(20 * 24 * HOUR), "triggered", "yellow")]


def test_a_silent_alert_resolves_on_the_next_reading() -> None:
    opened_at, reading_at = T0 + 13 * HOUR, T0 + 13 * HOUR + 5 * MINUTE
    kit = _new_kit(heard=lambda now: reading_at if now >= reading_at else None, heartbeat=lambda now: now - 30)
    # The sweep opens the alert; the reading's own evaluation (ingest queues the rules of its metric) resolves it.
    assert _timeline(kit, [(opened_at, None), (reading_at, ["motion"])], MOTION_RULE) == [
        (round(13 * HOUR), "triggered", "yellow"),
        (round(13 * HOUR + 5 * MINUTE), "resolved", "yellow"),
    ]


def test_a_silent_alarm_button_resolves_on_its_next_battery_report() -> None:
    report_at = T0 + 25 * HOUR
    kit = _new_kit(heard=lambda now: report_at if now >= report_at else None, heartbeat=lambda now: now - 30)
    # A battery report is no alarm.button reading: the next sweep (each minute) resolves the alert.
    assert _timeline(kit, [T0 + 24.5 * HOUR, report_at + MINUTE], BUTTON_RULE) == [
        (round(24.5 * HOUR), "triggered", "yellow"),
        (round(25 * HOUR + MINUTE), "resolved", "yellow"),
    ]


def test_a_gateway_alert_resolves_on_the_next_heartbeat() -> None:
    back_at = T0 + 40 * MINUTE
    kit = _new_kit(heartbeat=lambda now: back_at if now >= back_at else None)
    assert _timeline(kit, [T0 + 31 * MINUTE, back_at + MINUTE], GATEWAY_RULE) == [
        (round(31 * MINUTE), "triggered", "red"),
        (round(41 * MINUTE), "resolved", "red"),
    ]


def test_an_unknown_start_and_no_message_still_counts_as_silent() -> None:
    # Facts without a start (a replayed file, an old caller): never heard stays silent, as before.
    facts = LivenessFacts((DeviceFacts("pir", ("motion",), gateway_id="gw"),), (GatewayFacts("gw"),))
    result = evaluate_patient(WELFARE, PatientState(), {}, facts, T0)
    triggered = {t.rule: t.severity.value for t in result.transitions}
    assert triggered[GATEWAY_RULE] == "red" and triggered[MOTION_RULE] == "yellow"


@given(
    since=st.floats(0, 1e6),
    heard=st.one_of(st.none(), st.floats(0, 1e6)),
    elapsed=st.floats(0, 2e5),
    hours=st.floats(0.5, 72),
)
def test_silence_is_counted_from_the_later_of_start_and_last_message(
    since: float, heard: float | None, elapsed: float, hours: float
) -> None:
    start = max(since, heard if heard is not None else since)
    now = start + elapsed
    device = DeviceFacts("d", ("motion",), last_seen=heard, since=since)
    gateway = GatewayFacts("g", last_heartbeat=heard, since=since)
    silent = SilentRule("motion", hours).evaluate(Context(now=now, devices=(device,))).decision.triggered
    down = GatewayHeartbeatRule(hours * 60).down(Context(now=now, gateways=(gateway,)))
    assert silent is (elapsed > hours * 3600)
    assert (down == {"g"}) is (elapsed > hours * 60 * 60)


def test_the_explanation_says_from_when_the_silence_is_counted() -> None:
    facts = _new_kit(heartbeat=lambda now: now - 30)(T0 + 13 * HOUR)
    ctx = dataclasses.replace(Context(now=T0 + 13 * HOUR), devices=facts.devices, gateways=facts.gateways)
    outcome = SilentRule("motion", 12).evaluate(ctx)
    (entry,) = outcome.decision.explanation.values["silent"]  # type: ignore[misc]
    assert entry == {"device": "pir", "last_heard": None, "since": T0, "gateway_down": False}
