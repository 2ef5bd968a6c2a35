"""The demo story's pure parts: Ola's answers worsen only in the last three days and stay on their scales, and
Per and Berit's night-door readings lie at night and in the past whatever the hour the demo starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from common.timefmt import OSLO
from tryggheim.demo.story import HISTORY_DAYS, answers_for, last_night_door

START = datetime(2026, 12, 4, tzinfo=UTC)


def test_olas_answers_are_steady_for_weeks_then_worsen_every_day() -> None:
    days = [answers_for(day) for day in range(HISTORY_DAYS, -1, -1)]
    assert all(0 <= value <= 4 for answers in days for value in answers.values())
    steady, last = days[:-3], days[-3:]
    assert max(a["dyspnoea"] for a in steady) <= 1 and min(a["wellbeing"] for a in steady) == 3
    assert [a["dyspnoea"] for a in last] == [2, 3, 4]
    assert [a["wellbeing"] for a in last] == [2, 1, 0]


@given(st.integers(min_value=0, max_value=24 * 60 - 1))
def test_the_night_door_is_at_night_and_in_the_past(minute: int) -> None:
    now = START + timedelta(minutes=minute)
    readings = last_night_door(now, "hall-door")
    assert [r["value"] for r in readings] == [1, 0]
    for reading in readings:
        measured = datetime.fromisoformat(str(reading["measured_at"]))
        assert measured <= now and now - measured < timedelta(days=1, hours=1)
        assert measured.astimezone(OSLO).hour == 2
