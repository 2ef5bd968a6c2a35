"""The evaluation entry point: one patient, one instant, a protocol -> the alert transitions to apply.

The cloud calls `evaluate_patient` from its evaluation queue (rules touched by new readings) and from its
scheduler (rules the clock can change), hands in plain data read from its database, and applies the
returned transitions in one transaction. Nothing here reads a clock, a file or a database, so the same
inputs always give the same transitions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy.typing as npt

from alerts.episodes import gather
from alerts.explain import JSONValue, Level
from alerts.inputs import Context, DeviceFacts, GatewayFacts, Outcome, Remeasure, Window
from alerts.lifecycle import Event, OpenAlert, Transition, Verdict, step
from alerts.liveness import GatewayHeartbeatRule
from alerts.protocols.model import Protocol, Rule
from alerts.suppression import Pause, Silence, suppression_for

PAUSE_RULE = "patient.pause"
Readings = Mapping[str, Window | tuple[npt.ArrayLike, npt.ArrayLike]]


@dataclass(frozen=True)
class PatientState:
    """What the database knows about the patient's alerts, as plain data.

    `open_alerts` is keyed by rule id (one open alert per rule). `handled_until` is, per rule, the newest
    `last_input_at` of its resolved alerts and recorded suppressions, so an event is alerted at most once.
    `remeasure_requested` is, per rule, the time of the newest doubtful reading a new measurement was already
    asked for, so the patient is asked once per reading.
    """

    open_alerts: Mapping[str, OpenAlert] = field(default_factory=dict)
    handled_until: Mapping[str, float] = field(default_factory=dict)
    silences: tuple[Silence, ...] = ()
    pause: Pause | None = None
    remeasure_requested: Mapping[str, float] = field(default_factory=dict)

    def apply(self, transitions: Collection[Transition]) -> PatientState:
        """The state after the transitions: the reference for what the database must do with each."""
        open_alerts = dict(self.open_alerts)
        handled = dict(self.handled_until)
        requested = dict(self.remeasure_requested)
        pause = self.pause
        for t in transitions:
            if t.event is Event.PAUSE_ENDED:
                pause = None
            elif t.event is Event.REMEASURE_REQUESTED and t.last_input_at is not None:
                requested[t.rule] = max(requested.get(t.rule, t.last_input_at), t.last_input_at)
            elif t.alert is not None:
                open_alerts[t.rule] = t.alert
            elif t.event in (Event.RESOLVED, Event.SUPPRESSED):
                open_alerts.pop(t.rule, None)
                if t.last_input_at is not None:
                    handled[t.rule] = max(handled.get(t.rule, t.last_input_at), t.last_input_at)
        return dataclasses.replace(
            self, open_alerts=open_alerts, handled_until=handled, pause=pause, remeasure_requested=requested
        )


@dataclass(frozen=True)
class LivenessFacts:
    """The patient's devices and the gateways they report through."""

    devices: tuple[DeviceFacts, ...] = ()
    gateways: tuple[GatewayFacts, ...] = ()


@dataclass(frozen=True)
class Evaluation:
    """The transitions to apply, and the traffic light per evaluated rule and for the patient."""

    transitions: tuple[Transition, ...]
    levels: Mapping[str, Level]

    @property
    def patient_level(self) -> Level:
        """The most urgent level of any evaluated rule (green when none triggered)."""
        return Level.from_rank(max((level.rank for level in self.levels.values()), default=0))


def _gateways_down(protocol: Protocol, ctx: Context) -> frozenset[str]:
    down: set[str] = set()
    for rule in protocol.rules:
        for _level, detector in rule.slots[-1:]:  # the mildest slot: the earliest moment a gateway counts as down
            if isinstance(detector, GatewayHeartbeatRule):
                down |= detector.down(ctx)
    return frozenset(down)


def _explanation(rule: Rule, outcome: Outcome) -> dict[str, JSONValue]:
    # The rule's title travels with the facts, so the alert can be worded without its protocol (alerts.wording).
    return {
        **outcome.decision.to_json(),
        "parameters": rule.parameters(),
        "summary": outcome.summary,
        "title": rule.spec.title,
    }


def _failure(rule: Rule, now: float, exc: Exception) -> Transition:
    # A failing detector must never stop the other rules or the ingest; it is reported as data quality.
    return Transition(
        event=Event.DETECTOR_FAILED,
        rule=rule.id,
        alert_class="data_quality",
        severity=Level.YELLOW,
        at=now,
        message=f"{rule.spec.title}: detector failed: {type(exc).__name__}: {exc}",
        notify=False,
        explanation={"parameters": rule.parameters(), "error": repr(exc)},
    )


def evaluate_patient(
    protocol: Protocol,
    state: PatientState,
    readings: Readings,
    facts: LivenessFacts,
    now: float,
    rules: Collection[str] | None = None,
) -> Evaluation:
    """Evaluate `rules` (all when None) of the patient's protocol at `now`.

    `readings` maps metric keys to windows (Unix seconds UTC, canonical units), at least as long as
    `protocol.window_days()` asks for. Returns the transitions in rule order, after a `pause_ended`
    reminder when the patient's pause has run out.
    """
    windows = {metric: w if isinstance(w, Window) else Window.of(*w) for metric, w in readings.items()}
    base = Context(
        now=now, windows=windows, devices=facts.devices, gateways=facts.gateways, spo2_scale=protocol.spo2_scale
    )
    base = dataclasses.replace(base, gateways_down=_gateways_down(protocol, base))
    transitions: list[Transition] = []
    if state.pause is not None and state.pause.ended(now):
        transitions.append(_pause_reminder(state.pause, now))
    levels: dict[str, Level] = {}
    selected = protocol.rules if rules is None else [r for r in protocol.rules if r.id in set(rules)]
    for rule in selected:
        ctx = dataclasses.replace(base, handled_until=state.handled_until.get(rule.id))
        try:
            outcome = rule.evaluate(ctx)
        except Exception as exc:  # reported as a transition, never raised into ingest
            transitions.append(_failure(rule, now, exc))
            continue
        decision = outcome.decision
        levels[rule.id] = decision.level
        verdict = Verdict(
            rule=rule.id,
            alert_class=rule.alert_class,
            triggered=decision.triggered,
            judged=decision.status.value == "evaluated",
            severity=decision.level,
            at=now,
            message=f"{rule.spec.title}: {outcome.summary}" if outcome.summary else rule.spec.title,
            auto_resolve=rule.auto_resolve,
            explanation=_explanation(rule, outcome),
            last_input_at=outcome.last_input_at,
            suppressed_by=suppression_for(rule, outcome, state.silences, state.pause, now)
            if decision.triggered
            else None,
        )
        transitions.extend(step(state.open_alerts.get(rule.id), verdict))
        asked = state.remeasure_requested.get(rule.id)
        if outcome.remeasure is not None and (asked is None or outcome.remeasure.reading_at > asked):
            transitions.append(_remeasure_request(rule, outcome.remeasure, now))
    members = [rule.id for rule in protocol.rules if rule.joins_episode]
    titles = {rule.id: rule.spec.title for rule in protocol.rules}
    gathered = gather(transitions, state.open_alerts, state.handled_until, members, titles, now)
    return Evaluation(transitions=gathered, levels=levels)


def _remeasure_request(rule: Rule, remeasure: Remeasure, now: float) -> Transition:
    # Recorded, never an alert: the patient's view and the gateway show it, and the rule judges again at
    # `wait_until` with whatever has arrived by then.
    return Transition(
        event=Event.REMEASURE_REQUESTED,
        rule=rule.id,
        alert_class=rule.alert_class,
        severity=Level.GREEN,
        at=now,
        message=f"{rule.spec.title}: the {remeasure.metric} reading was flagged doubtful by the device; measure again",
        notify=False,
        last_input_at=remeasure.reading_at,
        explanation={
            "metric": remeasure.metric,
            "reading_at": remeasure.reading_at,
            "wait_until": remeasure.wait_until,
            "title": rule.spec.title,
        },
    )


def _pause_reminder(pause: Pause, now: float) -> Transition:
    return Transition(
        event=Event.PAUSE_ENDED,
        rule=PAUSE_RULE,
        alert_class="clinical",
        severity=Level.YELLOW,
        at=now,
        message=f"Pause ended ({pause.reason}): vitals rules are running again; review the patient's protocol",
        notify=True,
        explanation={"pause": {"start": pause.start, "until": pause.until, "reason": pause.reason}},
    )
