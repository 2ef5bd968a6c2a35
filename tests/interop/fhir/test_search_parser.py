"""The search parameter parser as a property: whatever the query, it either parses into a search within the
limits or refuses with a SearchError (a 400), never another exception; and what it accepts it reads exactly."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.interop.fhir import search

NAMES = st.sampled_from(["patient", "code", "date", "_count", "_cursor", "identifier", "_id", "subject", "x", "date:x"])
VALUES = st.one_of(
    st.text(max_size=40),
    st.from_regex(
        r"(eq|ge|gt|le|lt|ne|sa|eb|ap)?\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})?)?)?)?",
        fullmatch=True,
    ),
    st.integers(-5, 10**7).map(str),
)


@settings(max_examples=300, deadline=None, database=None)
@given(resource=st.sampled_from(sorted(search.SUPPORTED)), items=st.lists(st.tuples(NAMES, VALUES), max_size=5))
def test_any_query_parses_or_is_refused_cleanly(resource: str, items: list[tuple[str, str]]) -> None:
    try:
        parsed = search.parse(resource, items)
    except search.SearchError as refused:
        assert str(refused)
        return
    assert 1 <= parsed.count <= search.MAX_COUNT
    assert {name for name, _ in items} <= {*search.SUPPORTED[resource], *search.COMMON}
    if parsed.since is not None and parsed.until is not None:
        assert parsed.since.tzinfo is not None and parsed.until.tzinfo is not None


@settings(max_examples=100, deadline=None, database=None)
@given(key=st.tuples(st.datetimes(timezones=st.just(UTC)), st.integers(1, 2**62)))
def test_a_cursor_reads_back_as_its_key(key: tuple[datetime, int]) -> None:
    assert search.parse("Observation", [("_cursor", search.cursor(key))]).after == key


def test_counts_and_periods() -> None:
    assert search.parse("Observation", [("_count", "1000000")]).capped_from == 1000000
    assert search.parse("Observation", []).count == search.DEFAULT_COUNT
    day = search.parse("Observation", [("date", "2026-03-29")])  # the clocks go forward: a 23-hour day
    assert day.since is not None and day.until is not None
    assert (day.until.astimezone(UTC) - day.since.astimezone(UTC)).total_seconds() == 23 * 3600
