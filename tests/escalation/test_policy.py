"""The pure policy core: documents validated with specific errors, and the chain's decisions over time."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.escalation import (
    ChainState,
    Fire,
    Kind,
    PolicyError,
    PolicySpec,
    Stop,
    Wait,
    calls_again,
    default_policies,
    next_action,
    parse_policies,
    round_of,
    select,
    stored_step,
)
from alerts.escalation.schema import EVENT_CLASSES, SEVERITIES
from tests.escalation.conftest import three_steps


def test_the_shipped_default_covers_every_class_and_severity_and_never_delays_an_alarm() -> None:
    document = default_policies()
    for event_class in EVENT_CLASSES:
        for severity in SEVERITIES:
            policy = select(document.policies, event_class, severity)
            assert policy.steps[0].channel == "in_app"
    alarm = select(document.policies, "alarm", "red")
    assert alarm.steps[0].after_minutes == 0 and alarm.ack_timeout_minutes is not None
    assert [s.channel for s in select(document.policies, "internal", "red").steps] == ["in_app"]


def _broken(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(three_steps())
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["policies"].pop(1), "no policy matches event class 'internal' at severity 'red'"),
        (lambda d: d["policies"][0]["steps"].reverse(), "policies[0]: steps must come in strictly increasing"),
        (lambda d: d["policies"][0]["steps"][0].update(after_minutes=0.5, channel="email", target="lead"),
         "a safety alarm's first step is immediate"),
        (lambda d: d["policies"][0]["steps"][1].update(channel="in_app"), "an in_app step notifies the worklist"),
        (lambda d: d["policies"][0]["steps"][1].update(channel="pager"), "policies[0].steps[1].channel"),
        (lambda d: d["policies"][0]["steps"][1].update(target="Team Lead"), "policies[0].steps[1].target"),
        (lambda d: d["policies"][1].update(name="three"), "policy names must be unique"),
        (lambda d: d["policies"][0].update(delay=5), "policies[0].delay: Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_an_invalid_document_is_refused_with_the_field_named(change: Any, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policies(_broken(change), "kommune 0301")
    assert str(caught.value).startswith("kommune 0301: ") and message in str(caught.value)


POLICY = PolicySpec.model_validate(
    {"name": "p", "classes": ["clinical"], "ack_timeout_minutes": 10,
     "steps": [{"after_minutes": 0, "channel": "in_app", "target": "care_team"},
               {"after_minutes": 5, "channel": "email", "target": "team_lead"},
               {"after_minutes": 15, "channel": "webhook", "target": "response_centre"}],
     "renotify": {"times": 2}}
)  # fmt: skip


def test_the_chain_at_given_times() -> None:
    opened = 1000.0
    first = Fire(0, Kind.STEP, "in_app", "care_team", opened, "step 1 of 3: unacknowledged after 0 min")
    assert next_action(POLICY, ChainState(opened, 0), opened) == first
    waiting = next_action(POLICY, ChainState(opened, 1), opened + 299)
    assert isinstance(waiting, Wait) and waiting.until == opened + 300
    held = next_action(POLICY, ChainState(opened, 1, held_until=opened + 900), opened + 301)
    assert held == Wait(opened + 900, "snoozed or paused")
    acked = ChainState(opened, 1, acknowledged_at=opened + 60)
    assert next_action(POLICY, acked, opened + 600) == Wait(opened + 660, "next: acknowledged but not resolved "
                                                                          "within 10 min")  # fmt: skip
    reminder = next_action(POLICY, acked, opened + 661)
    assert isinstance(reminder, Fire) and (reminder.step, reminder.kind) == (3, Kind.RENOTIFY)
    assert isinstance(next_action(POLICY, ChainState(opened, 5, acknowledged_at=opened + 60), opened + 1e6), Stop)
    assert next_action(POLICY, ChainState(opened, 1, resolved=True), opened + 1e6) == Stop("resolved")


@settings(max_examples=300, deadline=None)
@given(
    ticks=st.lists(st.floats(0, 4000), min_size=1, max_size=40),
    ack=st.none() | st.floats(0, 4000),
    snooze=st.none() | st.floats(0, 4000),
)
def test_a_simulated_chain_fires_each_step_once_in_order_never_early_and_never_after_ack(
    ticks: list[float], ack: float | None, snooze: float | None
) -> None:
    opened, step, fired = 0.0, 0, []
    for now in sorted(ticks):
        state = ChainState(opened, step, acknowledged_at=ack if ack is not None and ack <= now else None,
                           held_until=snooze)  # fmt: skip
        while isinstance(action := next_action(POLICY, state, now), Fire):
            fired.append((action, now))
            step = action.step + 1
            state = ChainState(opened, step, acknowledged_at=state.acknowledged_at, held_until=snooze)
    numbers = [f.step for f, _ in fired]
    assert numbers == sorted(set(numbers))  # each step at most once, in order
    for action, now in fired:
        assert now >= action.due_at  # never early
        assert snooze is None or not now < snooze  # never while held
        if action.kind is Kind.STEP:
            assert ack is None or now < ack  # no chain step once someone has acknowledged
        else:
            assert ack is not None and action.due_at >= ack + 600


def test_a_press_again_starts_a_round_only_once_the_chain_has_gone_quiet() -> None:
    steps = len(POLICY.steps)
    assert calls_again(POLICY, ChainState(0.0, steps))  # every step sent, nobody took it
    assert calls_again(POLICY, ChainState(0.0, 1, acknowledged_at=30.0))  # a person took it
    assert calls_again(POLICY, ChainState(0.0, steps + 2, acknowledged_at=30.0))  # taken, reminders under way
    assert not calls_again(POLICY, ChainState(0.0, steps - 1))  # a step still to come: it joins the round
    assert not calls_again(POLICY, ChainState(0.0, 0))
    assert not calls_again(POLICY, ChainState(0.0, steps, resolved=True))


@given(round_number=st.integers(1, 50), step=st.integers(0, 29))
def test_every_rounds_steps_are_kept_under_their_own_numbers(round_number: int, step: int) -> None:
    stored = stored_step(round_number, step)
    assert round_of(stored) == (round_number, step)
    # a policy's largest step number (20 steps, 10 reminders) stays below the next round's first
    assert stored_step(round_number, 29) < stored_step(round_number + 1, 0)
