"""What a free-text field of the API accepts (cloud/api/free_text.py) the database's checks accept too: the
stored text is the stripped text, and `length(btrim(...))` of it, as PostgreSQL computes it, is within the
field's bounds. A comment of U+001D passed the old check and failed the database's (found by schemathesis)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from cloud.api.free_text import Comment, Note, Reason

FIELDS: dict[str, tuple[Any, int, int]] = {"comment": (Comment, 1, 2000), "reason": (Reason, 3, 500),
                                           "note": (Note, 3, 2000)}  # fmt: skip
# Python's separators that PostgreSQL's btrim keeps, and ordinary letters; NUL and lone surrogates are refused by
# the application's storage handler (a 422), not by these fields.
SEPARATORS = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u2028\u3000"
TEXTS = st.text(alphabet=st.sampled_from([*SEPARATORS, "a", "ø"]), max_size=8) | st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8
)


@pytest.fixture(scope="module")
def pg(pg_admin_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        yield conn


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(FIELDS)), raw=TEXTS)
def test_what_a_free_text_field_accepts_the_database_accepts(pg: psycopg.Connection[Any], kind: str, raw: str) -> None:
    field, least, most = FIELDS[kind]
    try:
        kept = TypeAdapter(field).validate_python(raw)
    except ValidationError:
        assert len(raw.strip()) < least or len(raw) > most
        return
    assert kept == raw.strip()
    row = pg.execute("SELECT length(btrim(%s))", (kept,)).fetchone()
    assert row is not None and least <= row[0] == len(kept) <= most


@pytest.mark.parametrize("raw", ["\x1d", " \t\x1f ", "\u3000"])
def test_a_comment_of_separators_alone_is_refused_with_its_reason(raw: str) -> None:
    with pytest.raises(ValidationError, match="write at least 1 character besides spaces"):
        TypeAdapter(Comment).validate_python(raw)
