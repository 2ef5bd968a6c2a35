"""What an alert's escalation chain does next, as a pure function of the alert's state and the time.

The engine in `cloud.escalation` holds the alert's row lock, builds a `ChainState` from it and asks `next_action`
at `now`. The answer is one of: fire a step (write its notification), wait until a time, or stop. Checks come
in this order, so a step never fires for an alert someone is already on: resolved -> acknowledged (only the
ack-timeout reminder remains) -> not yet due -> snoozed or held -> fire.

Step numbers are stable: escalation steps are 0..n-1, the k-th reminder after acknowledgement is n+k-1. The
cloud keeps one notification per (alert, step number), which is what makes a step run once.

A safety alarm pressed again is a new call for help. While its chain is still climbing (a step not yet sent,
nobody has taken it) the press joins the round that is running. Once the chain has gone quiet, because a person
took the alarm or because every step has been sent without anyone taking it, the press starts a new round
(`calls_again`): the alarm waits to be taken again and the chain runs again from its first step, timed from the
press. A round's steps are stored as `stored_step(round, step)`, so every round's steps are also sent once each.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from alerts.escalation.schema import PolicySpec

MINUTE_S = 60.0
# Stored step numbers per round: a policy has at most 20 steps and 10 reminders (schema), so a round's steps
# stay below the next round's first.
ROUND_STRIDE = 100


class Kind(StrEnum):
    """Why a notification is sent: a step of the chain, or a reminder after acknowledgement."""

    STEP = "step"
    RENOTIFY = "renotify"


@dataclass(frozen=True)
class ChainState:
    """The alert as escalation sees it (Unix seconds). `held_until` is set while the alert may not climb:
    snoozed by a person, or its patient paused for a rule that a pause suspends."""

    opened_at: float
    next_step: int
    acknowledged_at: float | None = None
    resolved: bool = False
    held_until: float | None = None


@dataclass(frozen=True)
class Fire:
    """Write the notification of step `step` now (it was due at `due_at`)."""

    step: int
    kind: Kind
    channel: str
    target: str
    due_at: float
    reason: str


@dataclass(frozen=True)
class Wait:
    """Nothing to do before `until`."""

    until: float
    reason: str


@dataclass(frozen=True)
class Stop:
    """The chain has ended for this alert."""

    reason: str


Action = Fire | Wait | Stop


def due_at(policy: PolicySpec, state: ChainState, step: int, minute_s: float = MINUTE_S) -> float | None:
    """When step number `step` falls due (None: it never does in this state)."""
    steps = policy.steps
    if step < len(steps):
        return state.opened_at + steps[step].after_minutes * minute_s
    if policy.ack_timeout_minutes is None or state.acknowledged_at is None:
        return None
    k = step - len(steps) + 1
    if k > policy.renotify.times:
        return None
    return state.acknowledged_at + k * policy.ack_timeout_minutes * minute_s


def next_action(policy: PolicySpec, state: ChainState, now: float, minute_s: float = MINUTE_S) -> Action:
    """What the chain does at `now`. `minute_s` is the length of a policy minute in seconds (60 except in
    tests and the demo, which shorten waits)."""
    if state.resolved:
        return Stop("resolved")
    steps = policy.steps
    step = state.next_step
    if state.acknowledged_at is not None:
        if policy.ack_timeout_minutes is None:
            return Stop("acknowledged")
        step = max(step, len(steps))  # steps not yet fired are skipped: someone is on it
        kind = Kind.RENOTIFY
        channel, target = policy.renotify.channel, policy.renotify.target
        reason = f"acknowledged but not resolved within {policy.ack_timeout_minutes:g} min"
    else:
        if step >= len(steps):
            return Stop("every step has run; waiting for an acknowledgement")
        kind = Kind.STEP
        channel, target = steps[step].channel, steps[step].target
        reason = f"step {step + 1} of {len(steps)}: unacknowledged after {steps[step].after_minutes:g} min"
    due = due_at(policy, state, step, minute_s)
    if due is None:
        return Stop(f"every reminder ({policy.renotify.times}) has been sent")
    if now < due:
        return Wait(due, f"next: {reason}")
    if state.held_until is not None and now < state.held_until:
        return Wait(state.held_until, "snoozed or paused")
    return Fire(step=step, kind=kind, channel=channel, target=target, due_at=due, reason=reason)


def select(policies: tuple[PolicySpec, ...], event_class: str, severity: str) -> PolicySpec:
    """The first policy matching the alert's event class and severity (documents are complete: see schema)."""
    for policy in policies:
        if event_class in policy.classes and severity in policy.severities:
            return policy
    raise LookupError(f"no escalation policy for {event_class!r} at {severity!r}")


def stored_step(round_number: int, step: int) -> int:
    """The step number a notification is kept under: round 1's steps as they are, later rounds' after them."""
    return (round_number - 1) * ROUND_STRIDE + step


def round_of(stored: int) -> tuple[int, int]:
    """(round, step within the round) of a stored step number; rounds count from 1."""
    return stored // ROUND_STRIDE + 1, stored % ROUND_STRIDE


def calls_again(policy: PolicySpec, state: ChainState) -> bool:
    """Whether an alarm pressed again starts a new round of its chain: a person had taken it, or every step has
    been sent without anyone taking it. While a step is still to come the press joins the running round."""
    if state.resolved:
        return False
    return state.acknowledged_at is not None or state.next_step >= len(policy.steps)
