"""The pure part of series queries: the bucket table, spans and cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.query.series import (
    BUCKET_WIDTH,
    Bucket,
    CursorError,
    Position,
    QueryError,
    check_span,
    decode_cursor,
    encode_cursor,
)

# hypothesis wants naive bounds and adds the zone itself.
MOMENTS = st.datetimes(
    min_value=datetime(1990, 1, 1),  # noqa: DTZ001
    max_value=datetime(2199, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def test_every_bucket_has_a_width_and_only_the_day_varies() -> None:
    assert set(BUCKET_WIDTH) == set(Bucket)
    assert [b for b, width in BUCKET_WIDTH.items() if width is None] == [Bucket.DAY]


@pytest.mark.parametrize(
    ("days", "bucket", "ok"),
    [(31, None, True), (31.01, None, False), (92, Bucket.H1, True), (93, Bucket.MIN5, False), (3700, Bucket.DAY, True),
     (3701, Bucket.DAY, False)],
)  # fmt: skip
def test_span_limits_hold_at_their_boundaries(days: float, bucket: Bucket | None, ok: bool) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    if ok:
        check_span(start, start + timedelta(days=days), bucket)
    else:
        with pytest.raises(QueryError, match="may span at most"):
            check_span(start, start + timedelta(days=days), bucket)


@given(moment=MOMENTS, ident=st.integers(min_value=0, max_value=2**63 - 1), key=st.text(min_size=1, max_size=20))
def test_a_cursor_returns_its_position_for_its_own_query_only(moment: datetime, ident: int, key: str) -> None:
    cursor = encode_cursor(Position(moment, ident), key)
    assert decode_cursor(cursor, key) == Position(moment, ident)
    with pytest.raises(CursorError, match="another query"):
        decode_cursor(cursor, key + "x")


@given(text=st.text(max_size=200))
def test_any_other_text_is_refused_as_a_cursor_and_nothing_else(text: str) -> None:
    with pytest.raises(CursorError):
        decode_cursor(text, "key")
