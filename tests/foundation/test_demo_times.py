"""The demo's scripted readings never lie in the future, whatever the hour it is started at: started at 00:20
UTC its "this morning" readings used to be six hours ahead, and the ingest quarantined them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tryggheim.demo.seed import _history, _readings

START = datetime(2026, 12, 4, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=24 * 60 - 1))
def test_scripted_readings_are_in_the_past_at_any_minute_of_the_day(minute: int) -> None:
    now = START + timedelta(minutes=minute)
    readings = _readings(now)
    times = [datetime.fromisoformat(str(r["measured_at"])) for r in readings]
    assert times and max(times) <= now
    weighed = [datetime.fromisoformat(str(r["measured_at"])) for r in readings if r["metric"] == "body.weight"]
    assert len({t.date() for t in weighed}) == len(weighed) == 6, "six mornings, each once"


def test_history_ends_before_the_scripted_mornings() -> None:
    for hour in (0, 6, 7, 23):
        now = START.replace(hour=hour, minute=20)
        scripted = min(datetime.fromisoformat(str(r["measured_at"])) for r in _readings(now))
        history = max(datetime.fromisoformat(str(r["measured_at"])) for r in _history(now))
        assert history < scripted.replace(hour=0, minute=0), hour
