"""Worsening episodes: one alert for the nurse however many rules see the same deterioration.

Pulse above the person's normal, SpO2 below it and weight gain within a few days are one worsening, not
three alerts. Each rule still keeps its own alert (its trigger, repeats and explanation are recorded), but
those are evidence: they notify nobody. The nurse gets the patient's episode (rule id `episode.clinical`),
which opens with the first piece of evidence, collects every rule that fires while it is open, takes the
highest severity of its evidence and is escalated once. It closes by itself when none of its rules has
triggered for `EPISODE_WINDOW_S` (72 hours, our choice: the span within which the heart-failure signals of
one decompensation appear together in the research notes, Zhang 2009; Moazeni 2023), or when a person
closes it; a rule that fires again within that window joins the same episode.

Pure: `gather` rewrites the transitions of one evaluation; the database stores the episode as an alert like
any other (cloud/alert_store).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Final

from alerts.explain import JSONValue
from alerts.lifecycle import Event, OpenAlert, Suppression, Transition

EPISODE_RULE: Final = "episode.clinical"
EPISODE_TITLE: Final = "Worsening episode"
EPISODE_WINDOW_S: Final = 72 * 3600.0


def _evidence(t: Transition, titles: Mapping[str, str]) -> dict[str, JSONValue]:
    return {"rule": t.rule, "title": titles.get(t.rule, t.rule), "severity": t.severity.value, "at": t.at,
            "message": t.message}  # fmt: skip


def _members(alert: OpenAlert | None) -> list[JSONValue]:
    found = alert.last_value.get("evidence") if alert is not None else None
    return list(found) if isinstance(found, list) else []


class _Gatherer:
    """One evaluation's episode bookkeeping (the open episode as it changes, the open member rules)."""

    def __init__(self, episode: OpenAlert | None, open_members: set[str], titles: Mapping[str, str]) -> None:
        self.episode = episode
        self.open_members = open_members
        self.titles = titles
        self.out: list[Transition] = []

    def _emit(self, event: Event, at: float, notify: bool, message: str, held: bool = False) -> None:
        assert self.episode is not None
        explanation: dict[str, JSONValue] = {**self.episode.last_value, "title": EPISODE_TITLE}
        self.out.append(
            Transition(
                event=event, rule=EPISODE_RULE, alert_class="clinical", severity=self.episode.severity, at=at,
                message=message, notify=notify, last_input_at=self.episode.last_input_at, explanation=explanation,
                alert=None if event is Event.RESOLVED else self.episode,
                suppressed_by=Suppression.SNOOZED if held else None,
            )
        )  # fmt: skip

    def join(self, t: Transition) -> None:
        """A rule's trigger or rise: open the episode or add the evidence to it (before the rule's own record)."""
        evidence = [*_members(self.episode), _evidence(t, self.titles)]
        rules = sorted({str(e["rule"]) for e in evidence if isinstance(e, dict)})
        value: dict[str, JSONValue] = {"evidence": evidence, "rules": list(rules)}
        # The triggering reading's time, so escalation can tell how long the news took (cloud chain start).
        newest = t.last_input_at if t.last_input_at is not None else t.at
        if self.episode is None:
            self.episode = OpenAlert(
                rule=EPISODE_RULE, alert_class="clinical", severity=t.severity, opened_at=t.at, auto_resolve=True,
                last_value=value, last_input_at=newest, updated_at=t.at,
            )  # fmt: skip
            self._emit(Event.TRIGGERED, t.at, True, f"{EPISODE_TITLE}: {self.titles.get(t.rule, t.rule)}")
            return
        worse = t.severity.rank > self.episode.severity.rank
        self.episode = dataclasses.replace(
            self.episode, severity=t.severity if worse else self.episode.severity, repeats=self.episode.repeats + 1,
            last_value=value, last_input_at=max(newest, self.episode.last_input_at or newest), updated_at=t.at,
        )  # fmt: skip
        event = Event.SEVERITY_CHANGED if worse else Event.EVIDENCE_ADDED
        held = not worse and self.episode.snoozed(t.at)  # a rise notifies even through a snooze, as repeats do
        self._emit(event, t.at, not held, f"{EPISODE_TITLE}: + {self.titles.get(t.rule, t.rule)}", held)

    def member(self, t: Transition) -> None:
        """Route one transition of a rule that joins episodes."""
        if t.event is Event.TRIGGERED or (
            t.event is Event.SEVERITY_CHANGED and (self.episode is None or t.severity.rank > self.episode.severity.rank)
        ):
            self.join(t)
        if t.event is Event.TRIGGERED:
            self.open_members.add(t.rule)
        elif t.event is Event.RESOLVED:
            self.open_members.discard(t.rule)
        quiet = t.event in (Event.TRIGGERED, Event.SEVERITY_CHANGED, Event.REPEATED)
        self.out.append(dataclasses.replace(t, notify=False if quiet else t.notify, in_episode=True))

    def close_if_quiet(self, now: float, handled: Mapping[str, float], members: Collection[str]) -> None:
        """Close the episode once none of its rules is open and none has triggered for the window."""
        if self.episode is None or self.open_members:
            return
        last = max([self.episode.last_input_at or self.episode.opened_at, *(handled.get(r, 0.0) for r in members)])
        if now - last >= EPISODE_WINDOW_S:
            self._emit(Event.RESOLVED, now, False, f"{EPISODE_TITLE}: no rule has triggered for 72 hours")
            self.episode = None


def gather(
    transitions: Sequence[Transition],
    open_alerts: Mapping[str, OpenAlert],
    handled_until: Mapping[str, float],
    members: Collection[str],
    titles: Mapping[str, str],
    now: float,
) -> tuple[Transition, ...]:
    """The transitions with the episode's own added and the member rules' marked as evidence.

    `members` are the protocol's rules that join episodes (`Rule.joins_episode`); `open_alerts` and
    `handled_until` are the patient's state before these transitions.
    """
    episode = open_alerts.get(EPISODE_RULE)
    gatherer = _Gatherer(episode, {r for r in open_alerts if r in members}, titles)
    for t in transitions:
        if t.rule in members and t.alert_class == "clinical":
            gatherer.member(t)
        else:
            gatherer.out.append(t)
    handled = dict(handled_until)
    for t in gatherer.out:
        if t.in_episode and t.event is Event.RESOLVED and t.last_input_at is not None:
            handled[t.rule] = max(handled.get(t.rule, t.last_input_at), t.last_input_at)
    gatherer.close_if_quiet(now, handled, members)
    return tuple(gatherer.out)
