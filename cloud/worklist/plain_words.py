"""What a patient's newest measurement means, in plain words for the person themselves (their own view, and a
relative's). Pure: no database, no templates.

The rule is the nurse's: the limits of the patient's protocol in force (personal limits included) say whether a
value is as usual, higher or lower; an open alert on the measurement means the nurse has been told. Without
limits nothing is judged, only that the value was recorded. The sentences are catalogue source texts with the
measurement's name as `{what}`, so each language words the whole sentence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from alerts.thresholds import Limits
from common.i18n import N_

Judgement = Literal["usual", "higher", "lower", "recorded"]

# The measurement as its owner calls it (blood pressure is one measurement of two numbers, judged by both).
SUBJECTS: Final = {
    "bp": N_("Your blood pressure"),
    "heart_rate": N_("Your pulse"),
    "spo2": N_("The oxygen in your blood"),
    "body.weight": N_("Your weight"),
    "body.temperature": N_("Your temperature"),
    "blood.glucose": N_("Your blood sugar"),
    "resp.rate": N_("Your breathing"),
}
SENTENCES: Final[dict[tuple[Judgement, bool], str]] = {
    ("usual", False): N_("{what} is as usual."),
    ("usual", True): N_("{what} is as usual now. Your nurse has been told about an earlier change."),
    ("higher", False): N_("{what} is higher than usual. Your nurse can see it."),
    ("higher", True): N_("{what} is higher than usual. Your nurse has been told."),
    ("lower", False): N_("{what} is lower than usual. Your nurse can see it."),
    ("lower", True): N_("{what} is lower than usual. Your nurse has been told."),
    ("recorded", False): N_("{what} has been recorded. Your nurse can see it."),
    ("recorded", True): N_("{what} has changed. Your nurse has been told."),
}
# The questions of the day and the week, as the person answers them (the answer's words by score).
ANSWER_WORDS: Final = {
    "symptom.dyspnoea": (N_("Not at all"), N_("A little"), N_("Some"), N_("Quite a lot"), N_("Very much")),
    "symptom.oedema": (N_("Not at all"), N_("A little"), N_("Some"), N_("Quite a lot"), N_("Very much")),
    "symptom.wellbeing": (N_("Very poorly"), N_("Poorly"), N_("So-so"), N_("Well"), N_("Very well")),
}
ANSWER_TITLES: Final = {
    "symptom.dyspnoea": N_("Short of breath"),
    "symptom.oedema": N_("Swollen legs or feet"),
    "symptom.wellbeing": N_("How you feel"),
    "cat.score": N_("The weekly questions about your lungs"),
}
TOLD_ABOUT_ANSWER: Final = N_("Your nurse has been told about your answers.")


def judge(values: Sequence[float], limits: Sequence[Limits]) -> Judgement:
    """Whether the values of one measurement (blood pressure: its two numbers, each with its own limits, in
    the same order) are as usual, higher or lower than the limits' usual range; `recorded` when no value
    has limits."""
    verdict: Judgement = "recorded"
    for value, own in zip(values, limits, strict=True):
        if own.rank(value) == 0:
            verdict = "usual" if verdict == "recorded" else verdict
        elif own.green_high is not None and value > own.green_high:
            return "higher"
        elif own.green_low is not None and value < own.green_low:
            return "lower"
    return verdict


def sentence(judgement: Judgement, told: bool) -> str:
    """The sentence (a catalogue source text with `{what}`) for a judgement, and whether an open alert means
    the nurse has been told."""
    return SENTENCES[(judgement, told)]


def answer_words(metric: str, value: float) -> str | None:
    """The words of a scored answer (`Quite a lot`), or None for a score without words (the weekly total)."""
    words = ANSWER_WORDS.get(metric)
    index = int(value)
    return words[index] if words is not None and 0 <= index < len(words) and index == value else None


@dataclass(frozen=True)
class NextMeasurement:
    """When a planned measurement is next due: the latest local time to take it, and whether that is today."""

    metric: str
    due: dt.datetime
    today: bool


def next_due(metric: str, due_by: float, last_taken: dt.datetime | None, now: dt.datetime) -> NextMeasurement:
    """The next planned time of `metric`, planned daily by the local hour `due_by` (10.5: 10:30): today when it
    has not been taken today and today's time has not passed, else tomorrow. `now` is local time."""
    hour, minute = int(due_by), round((due_by - int(due_by)) * 60)
    due = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    taken_today = last_taken is not None and last_taken.astimezone(now.tzinfo).date() == now.date()
    if taken_today or due <= now:
        return NextMeasurement(metric, due + dt.timedelta(days=1), today=False)
    return NextMeasurement(metric, due, today=True)


# Headings of the measurements on the person's own page, and what the trend of each shows.
TITLES: Final = {
    "bp": N_("Blood pressure"),
    "heart_rate": N_("Pulse"),
    "spo2": N_("Oxygen in the blood"),
    "body.weight": N_("Weight"),
    "body.temperature": N_("Temperature"),
    "blood.glucose": N_("Blood sugar"),
    "resp.rate": N_("Breathing"),
}

# What a person did with the record, as its owner reads it in "who has looked": by the start of the audited
# action, else by whether it read or changed something.
ACTIONS: Final = (
    ("patient.read_as_relative", N_("Looked at your page")),
    ("emergency.", N_("Opened your record in an emergency")),
    ("vitals.enter", N_("Wrote down measurements from a visit")),
    ("alerts.", N_("Followed up a warning about your health")),
    ("series.", N_("Looked at your measurements")),
    ("patient.read", N_("Looked at your record")),
)
READ_WORDS: Final = N_("Looked at your record")
WRITE_WORDS: Final = N_("Changed something in your record")


def action_words(action: str, kind: str) -> str:
    """The words for one entry of the access log (`kind` read or write)."""
    for start, words in ACTIONS:
        if action.startswith(start):
            return words
    return WRITE_WORDS if kind == "write" else READ_WORDS


def title_of(metric: str) -> str:
    """The heading of a stored metric on the person's page (both blood-pressure numbers are `Blood pressure`);
    the metric itself when it has none."""
    return TITLES.get("bp" if metric.startswith("bp.") else metric, metric)
