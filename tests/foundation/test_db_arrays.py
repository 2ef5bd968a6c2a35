"""Array parameters dumped by their declared type (cloud/db/arrays.py): the very bytes psycopg's own dumper for that
array type writes, for any list of values (nulls and the empty list included); through `run_batch` the server reads
back what was sent; and a list of other values than the declared type's fares as through `cursor.execute`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import postgres, pq
from psycopg.adapt import Transformer
from psycopg.types.json import Jsonb

from cloud.db.arrays import array_type
from cloud.db.batch import Query, run_batch
from cloud.db.pool import connect

# hypothesis takes naive bounds and adds the zone.
_TIMES = st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC))  # noqa: DTZ001
_ELEMENTS: dict[str, st.SearchStrategy[Any]] = {
    "uuid": st.uuids(),
    "int8": st.integers(-(2**63), 2**63 - 1),
    "float8": st.floats(allow_nan=False),
    "bool": st.booleans(),
    "text": st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00")),
    "timestamptz": _TIMES,
    "jsonb": st.builds(Jsonb, st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)),
    "bytea": st.binary(max_size=20),
}


def _psycopg_dump(conn: psycopg.Connection[Any], element: str, values: list[Any]) -> bytes:
    """What psycopg's dumper for `element[]` writes."""
    info = postgres.types.get(element)
    assert info is not None
    dumper = conn.adapters.get_dumper_by_oid(info.array_oid, pq.Format.BINARY)(list, conn)
    return bytes(dumper.dump(values) or b"")


@pytest.fixture(scope="module")
def sync_conn(pg_admin_url: str) -> Any:
    with psycopg.connect(pg_admin_url) as conn:
        yield conn


@pytest.mark.parametrize("element", sorted(_ELEMENTS))
def test_the_bytes_are_psycopgs_own(sync_conn: psycopg.Connection[Any], element: str) -> None:
    kind = array_type(element, Transformer.from_context(sync_conn))
    assert kind is not None
    info = postgres.types.get(element)
    assert info is not None and kind.oid == info.array_oid

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.one_of(st.none(), _ELEMENTS[element]), max_size=12))
    def check(values: list[Any]) -> None:
        assert kind.dump(values) == _psycopg_dump(sync_conn, element, values)

    check()


def test_repeated_text_is_psycopgs_own_too(sync_conn: psycopg.Connection[Any]) -> None:
    """Each distinct string is encoded once (a group's metric and unit names repeat): the same bytes."""
    kind = array_type("text", Transformer.from_context(sync_conn))
    assert kind is not None

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.sampled_from([None, "", "kg", "body.weight", "æøå"]), max_size=40))
    def check(values: list[str | None]) -> None:
        assert kind.dump(values) == _psycopg_dump(sync_conn, "text", values)

    check()


def test_a_uuid_array_takes_raw_bytes(sync_conn: psycopg.Connection[Any]) -> None:
    """The 16 raw bytes of each id (what ingest keeps for its COPY) make the array of the ids, alone, mixed with
    ids and with nulls; bytes of another length are not taken for an id."""
    kind = array_type("uuid", Transformer.from_context(sync_conn))
    assert kind is not None

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(st.one_of(st.none(), st.uuids()), st.booleans()), max_size=20))
    def check(items: list[tuple[uuid.UUID | None, bool]]) -> None:
        ids = [value for value, _ in items]
        given_as = [value.bytes if raw and value is not None else value for value, raw in items]
        assert kind.dump(given_as) == _psycopg_dump(sync_conn, "uuid", ids)

    check()
    with pytest.raises(AttributeError):  # the caller then hands the list to psycopg, as any other odd list
        kind.dump([uuid.uuid4().bytes, b"fifteen bytes!!"])


@pytest.mark.parametrize("element", ["no_such_type", "int2", "int4", "float4", "numeric"])
def test_other_element_types_are_left_to_psycopg(sync_conn: psycopg.Connection[Any], element: str) -> None:
    """Unknown ones, and those whose psycopg dumper would narrow a value silently."""
    assert array_type(element, Transformer.from_context(sync_conn)) is None


_ROUND_TRIP = (
    "SELECT %b::uuid[] AS ids, %b::int8[] AS seqs, %b::float8[] AS vals, %b::text[] AS names, "
    "%b::timestamptz[] AS at, %b::jsonb[] AS context, %b::bool[] AS flags, %s::uuid[] AS auto"
)


def _run(url: str, body: Callable[[psycopg.AsyncConnection[Any]], Any]) -> Any:
    async def main() -> Any:
        async with await connect(url) as conn:
            return await body(conn)

    return asyncio.run(main())


def test_the_server_reads_back_what_was_sent(pg_admin_url: str) -> None:
    now = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    ids = [uuid.uuid4(), None, uuid.uuid4()]
    params: tuple[list[Any], ...] = (
        ids, [1, None, 2**40], [70.5, -1e300, None], ["vekt", None, "æøå"], [now, now + timedelta(seconds=1), None],
        [None, Jsonb({"posture": "sitting"}), None], [True, None, False], [],
    )  # fmt: skip

    async def body(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
        (rows,) = await run_batch(conn, [Query(_ROUND_TRIP, params)])
        return rows

    [row] = _run(pg_admin_url, body)
    assert row == {
        "ids": ids, "seqs": [1, None, 2**40], "vals": [70.5, -1e300, None], "names": ["vekt", None, "æøå"],
        "at": [now, now + timedelta(seconds=1), None], "context": [None, {"posture": "sitting"}, None],
        "flags": [True, None, False], "auto": [],
    }  # fmt: skip


NAIVE = datetime(2026, 12, 5, 8, 0)  # noqa: DTZ001 - a time without a zone is the point


def test_a_list_the_declared_dumper_refuses_is_adapted_by_psycopg(pg_admin_url: str) -> None:
    """Strings for a uuid[] (the server casts text[]), and naive times beside a list that is dumped fast."""
    wanted = uuid.uuid4()

    async def body(conn: psycopg.AsyncConnection[Any]) -> list[list[dict[str, Any]]]:
        return await run_batch(
            conn,
            [
                Query("SELECT %b::uuid[] AS ids, %b::int8[] AS seqs", ([str(wanted)], [7])),
                Query("SELECT %b::timestamp[] AS naive", ([NAIVE],)),
            ],
        )

    first, second = _run(pg_admin_url, body)
    assert first == [{"ids": [wanted], "seqs": [7]}]
    assert second == [{"naive": [NAIVE]}]


_ODD = [
    ("int8", [1.5]), ("int8", ["seven"]), ("int8", [2**70]), ("bool", [1, 0]), ("bool", ["x"]), ("float8", [2]),
    ("float8", [2**1100]), ("text", [3]), ("int2", [70000]), ("int4", [2**40]), ("float4", [1e300]),
]  # fmt: skip


@pytest.mark.parametrize(("element", "values"), _ODD)
def test_odd_lists_fare_as_through_execute(pg_admin_url: str, element: str, values: list[Any]) -> None:
    """A list of other values than the declared type's reads back, or is refused, as `cursor.execute` has it."""
    sql = f"SELECT %b::{element}[] AS got"

    async def outcome(conn: psycopg.AsyncConnection[Any], batched: bool) -> Any:
        try:
            if batched:
                return (await run_batch(conn, [Query(sql, (values,))]))[0][0]["got"]
            return (await (await conn.execute(sql, (values,))).fetchone() or [None])[0]
        except psycopg.Error as error:
            return type(error)

    async def both(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, Any]:
        return await outcome(conn, True), await outcome(conn, False)

    batched, executed = _run(pg_admin_url, both)
    assert batched == executed
