"""The plain words of the patient's own page (cloud.worklist.plain_words): what a value means against the
limits in force, whether the nurse has been told, the words of an answer and of an access, and when to
measure next."""

from __future__ import annotations

import datetime as dt

import pytest

from alerts.thresholds import Limits
from cloud.worklist import plain_words
from cloud.worklist.plain_words import judge, next_due, sentence
from common.timefmt import OSLO

PULSE = Limits(green_low=51, green_high=90, yellow_low=41, yellow_high=130)
SYSTOLIC = Limits(green_low=100, green_high=150)
DIASTOLIC = Limits(green_low=50, green_high=90)


@pytest.mark.parametrize(
    ("values", "limits", "expected"),
    [
        ([72], [PULSE], "usual"),
        ([95], [PULSE], "higher"),
        ([45], [PULSE], "lower"),
        ([51], [PULSE], "usual"),  # the limits themselves are usual
        ([130, 95], [SYSTOLIC, DIASTOLIC], "higher"),  # either number of blood pressure decides
        ([120, 80], [SYSTOLIC, DIASTOLIC], "usual"),
        ([], [], "recorded"),  # no limits: nothing judged
    ],
)
def test_a_value_is_judged_by_the_limits_in_force(values: list[float], limits: list[Limits], expected: str) -> None:
    assert judge(values, limits) == expected


def test_an_open_alert_says_the_nurse_has_been_told() -> None:
    assert (
        sentence("higher", True).format(what="Your pulse")
        == "Your pulse is higher than usual. Your nurse has been told."
    )
    assert sentence("usual", False).format(what="Your blood pressure") == "Your blood pressure is as usual."
    assert "can see it" in sentence("lower", False)


def test_answers_and_accesses_have_words() -> None:
    assert plain_words.answer_words("symptom.dyspnoea", 1.0) == "A little"
    assert plain_words.answer_words("symptom.wellbeing", 4.0) == "Very well"
    assert plain_words.answer_words("cat.score", 12.0) is None  # the week's total is shown as points
    assert plain_words.answer_words("symptom.oedema", 2.5) is None
    assert plain_words.action_words("patient.read", "read") == "Looked at your record"
    assert plain_words.action_words("patient.read_as_relative", "read") == "Looked at your page"
    assert plain_words.action_words("consent.create", "write") == "Changed something in your record"
    assert plain_words.title_of("bp.systolic") == "Blood pressure"


def test_the_next_planned_time_is_today_until_taken_or_passed() -> None:
    morning = dt.datetime(2026, 12, 3, 8, 0, tzinfo=OSLO)
    upcoming = next_due("bp.systolic", 10.0, None, morning)
    assert upcoming.today and upcoming.due == dt.datetime(2026, 12, 3, 10, 0, tzinfo=OSLO)
    taken = next_due("bp.systolic", 10.0, morning - dt.timedelta(minutes=30), morning)
    assert not taken.today and taken.due.date() == dt.date(2026, 12, 4)
    late = next_due("spo2", 12.5, None, morning.replace(hour=13))
    assert not late.today and (late.due.hour, late.due.minute) == (12, 30)
