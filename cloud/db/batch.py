"""Several statements in one write to the server and one wait for their answers.

psycopg's pipeline mode sends each statement as it is executed: a socket write per statement, and the server wakes
up for each. On the development VM such a write costs tens of microseconds of CPU on both sides; a small ingest
group of seven statements spent more on them than on its rows (docs/benchmarks.md, issue 25, fifth round).
`run_batch` gives libpq the statements of one round trip back to back, in pipeline mode, and flushes them once with
the Sync: one write, one wake-up of the server, one wait here.

Each statement is prepared once per connection (by SQL and parameter types, as psycopg's own cache does), so the
server parses it only once. The connection's prepared statements must be ours alone: psycopg, once it has prepared
one of its own, deallocates them all at every rollback, and every later batch would fail. So a connection with
psycopg's preparation on (`prepare_threshold`; cloud/db/pool.py turns it off) is refused.

Parameters are dumped and results loaded by psycopg's adapters, so a value reads and writes exactly as through
`cursor.execute`; a list whose placeholder the SQL casts to an array type (`%b::uuid[]`) is dumped as that type by
cloud/db/arrays.py, in the same bytes and faster. A statement the server refuses raises the same psycopg error class
(`psycopg.errors`) as `execute` would; the server skips the statements after it, and the connection is left usable
(in a failed transaction if the batch began one). A connection lost or a wait interrupted half-way is closed, so
the pool never hands out a connection mid-protocol.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from psycopg import AsyncConnection, abc, pq
from psycopg import errors as e
from psycopg.abc import Buffer
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq.abc import PGconn, PGresult

from cloud.db.arrays import ArrayType, array_type

# psycopg's placeholders: positional `%s`/`%b`, named `%(name)s`/`%(name)b`, and `%%` for a literal `%`; with
# the cast to an array type that may follow one (`%b::uuid[]`).
_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?([bs%])(::(\w+)\[\])?")
_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK, pq.ExecStatus.EMPTY_QUERY)
# (SQL, parameter types) -> the statement's name, the same on every connection.
_NAMES: dict[tuple[str, tuple[int, ...]], bytes] = {}


@dataclass
class _Session:
    """What a connection keeps between batches: the names it has prepared (a prepared statement outlives a
    rolled-back transaction), and one adapter context, whose dumpers and loaders the next batch finds ready
    (a fresh context builds every array parameter's dumper again: dumping a 16-reading group's INSERT took
    104 µs that way against 81.5 µs)."""

    transformer: abc.Transformer
    prepared: set[bytes] = field(default_factory=set)
    arrays: dict[str, ArrayType | None] = field(default_factory=dict)

    def array(self, element: str) -> ArrayType | None:
        """How to dump a list cast to `element[]` (None: as psycopg would)."""
        if element not in self.arrays:
            self.arrays[element] = array_type(element, self.transformer)
        return self.arrays[element]


_SESSIONS: weakref.WeakKeyDictionary[AsyncConnection[Any], _Session] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Query:
    """One statement of a batch: SQL with psycopg's placeholders (`%b` binary, `%s` either; positional with a
    sequence of parameters, `%(name)b` with a mapping), and its parameters."""

    sql: str
    params: Sequence[Any] | Mapping[str, Any] = ()


# For the rest of the transaction, run prepared statements on their generic plans, and make those plans of index
# look-ups. A statement that takes arrays is otherwise planned at every execution: the server weighs a plan for
# the arrays' real lengths against a generic one costed for a default length, finds the generic dearer whenever
# the arrays are short, and replans (0.1-0.2 ms a statement on the development VM, a third of an ingest group's
# database CPU) to arrive at the same index look-ups. A generic plan is made once per connection and kept while
# the tables grow, so it must not depend on their size when it was made: a new deployment's empty table is
# cheapest to scan whole, and a plan that scanned it would still scan it at a million rows (until an ANALYZE);
# hence no sequential scans where an index serves. Only for statements written so that their plans are those
# look-ups whatever the arrays hold (an array's elements read in LATERAL subqueries: cloud/ingest/known.py).
# The functions sit in FROM under a select list with no columns, so the answer has no row to load.
GENERIC_PLANS = Query(
    "SELECT FROM set_config('plan_cache_mode', 'force_generic_plan', true) AS p, "
    "set_config('enable_seqscan', 'off', true) AS s"
)


async def run_batch(conn: AsyncConnection[Any], queries: Sequence[Query]) -> list[list[dict[str, Any]]]:
    """Run the queries in order in one round trip; the rows of each, by the columns' names (none for a command).
    The connection must be idle, with no psycopg pipeline open. In autocommit mode a batch without BEGIN is one
    implicit transaction."""
    if conn.prepare_threshold is not None:
        raise e.ProgrammingError("run_batch needs a connection with prepare_threshold=None (cloud/db/batch.py)")
    pgconn = conn.pgconn
    session = _SESSIONS.get(conn)
    if session is None:
        session = _SESSIONS[conn] = _Session(Transformer.from_context(conn))
    # What was sent, in order: a name being prepared, or None for a statement's execution.
    sent: list[bytes | None] = []
    pgconn.enter_pipeline_mode()
    try:
        for query in queries:
            _send(pgconn, session, query, sent)
        pgconn.pipeline_sync()
        await _flush(conn)
        results = await _collect(conn, len(sent))
    except BaseException:
        # Half-way through the protocol (a lost connection, a cancelled wait): nothing can resume it.
        pgconn.finish()
        raise
    pgconn.exit_pipeline_mode()
    answers = []
    for name, result in zip(sent, results, strict=True):
        if name is None:
            answers.append(result)
        elif result.status == pq.ExecStatus.COMMAND_OK:
            # Prepared, whatever became of the statements after it (preparing is not transactional).
            session.prepared.add(name)
    if any(result.status not in _OK for result in results):
        error = _error(conn, results)
        if isinstance(error, e.InvalidSqlStatementName):
            # Deallocated behind our back (a DEALLOCATE ALL or DISCARD ALL in SQL): prepare afresh next time.
            session.prepared.clear()
        raise error
    return [_rows(session.transformer, result) for result in answers]


def _send(pgconn: PGconn, session: _Session, query: Query, sent: list[bytes | None]) -> None:
    """Queue one statement (and its preparation, the first time on this connection) in libpq's buffer."""
    sql, names, formats_asked, elements = _numbered(query.sql)
    params = [query.params[n] for n in names] if isinstance(query.params, Mapping) else query.params
    values, types, formats = _dump(session, params, formats_asked, elements)
    name = _NAMES.setdefault((sql, types), f"tryggheim_batch_{len(_NAMES)}".encode())
    if name not in session.prepared and name not in sent:
        pgconn.send_prepare(name, sql.encode(), param_types=types)
        sent.append(name)
    pgconn.send_query_prepared(name, values, param_formats=formats, result_format=pq.Format.BINARY)
    sent.append(None)


def _dump(
    session: _Session, params: Sequence[Any], formats_asked: tuple[PyFormat, ...], elements: tuple[str | None, ...]
) -> tuple[Sequence[Buffer | None], tuple[int, ...], Sequence[pq.Format] | None]:
    """The parameters' values, type oids and formats: lists cast to a known array type by cloud/db/arrays.py,
    the rest by psycopg."""
    if not params:
        return [], (), None
    arrays = [
        session.array(element) if element is not None and type(p) is list else None
        for element, p in zip(elements, params, strict=True)
    ]
    transformer = session.transformer
    try:
        fast = [None if kind is None else kind.dump(p) for kind, p in zip(arrays, params, strict=True)]
    except (TypeError, AttributeError, LookupError, ValueError, OverflowError, e.DataError):
        # An element the declared type's dumper does not take (a string for a uuid, say): psycopg adapts the
        # list by what it holds, as without the cast, and the server casts it.
        arrays = []
    if not any(arrays):
        values = transformer.dump_sequence(params, formats_asked)
        return values, tuple(transformer.types or ()), transformer.formats
    rest = [None if kind is not None else p for kind, p in zip(arrays, params, strict=True)]
    dumped: list[Buffer | None] = list(transformer.dump_sequence(rest, formats_asked))
    types = list(transformer.types or ())
    formats = list(transformer.formats or ())
    for i, kind in enumerate(arrays):
        if kind is not None:
            dumped[i], types[i], formats[i] = fast[i], kind.oid, pq.Format.BINARY
    return dumped, tuple(types), formats


async def _flush(conn: AsyncConnection[Any]) -> None:
    """Send what libpq holds; while the socket is full, take in what the server answers meanwhile (so neither
    side waits on the other's full buffer)."""
    pgconn = conn.pgconn
    while pgconn.flush():
        if await _ready(pgconn.socket, write=True) == "read":
            pgconn.consume_input()


async def _collect(conn: AsyncConnection[Any], expected: int) -> list[PGresult]:
    """Every message's result up to the Sync, in the order sent (a preparation's, a statement's). The answers
    may come in several pieces; the socket stays registered with the event loop until the last, since each
    registration costs system calls of its own (about three statements' worth on the development VM)."""
    pgconn = conn.pgconn
    results: list[PGresult] = []
    readable = _Readable(asyncio.get_running_loop(), pgconn.socket)
    try:
        while True:
            while pgconn.is_busy():
                await readable.wait()
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:
                continue  # the end of one statement's results
            if result.status == pq.ExecStatus.PIPELINE_SYNC:
                if len(results) != expected:
                    raise e.InternalError(f"the server answered {len(results)} of {expected} statements")
                return results
            results.append(result)
    finally:
        readable.close()


class _Readable:
    """A socket watched for reading from the first `wait` until `close`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fileno: int) -> None:
        self._loop = loop
        self._fileno = fileno
        self._waiter: asyncio.Future[None] | None = None
        self._ready = False
        self._watching = False

    async def wait(self) -> None:
        """Until the socket has been readable since the last `wait` returned."""
        if not self._watching:
            self._loop.add_reader(self._fileno, self._wake)
            self._watching = True
        if not self._ready:
            self._waiter = self._loop.create_future()
            await self._waiter
        self._ready = False

    def _wake(self) -> None:
        self._ready = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        """Stop watching."""
        if self._watching:
            self._loop.remove_reader(self._fileno)
            self._watching = False


async def _ready(fileno: int, *, write: bool) -> str:
    """Wait until the socket is readable ("read") or, when `write`, writable ("write")."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[str] = loop.create_future()

    def wake(what: str) -> None:
        if not waiter.done():
            waiter.set_result(what)

    loop.add_reader(fileno, wake, "read")
    if write:
        loop.add_writer(fileno, wake, "write")
    try:
        return await waiter
    finally:
        loop.remove_reader(fileno)
        if write:
            loop.remove_writer(fileno)


def _error(conn: AsyncConnection[Any], results: list[PGresult]) -> e.Error:
    """The error of the first refused statement (the later ones were only skipped)."""
    encoding = conn.info.encoding
    for result in results:
        if result.status == pq.ExecStatus.FATAL_ERROR:
            return e.error_from_result(result, encoding=encoding)
    return e.InternalError("a batch was aborted without an error from the server")


def _rows(transformer: abc.Transformer, result: PGresult) -> list[dict[str, Any]]:
    if not result.nfields or not result.ntuples:
        return []
    transformer.set_pgresult(result)
    names = [(result.fname(i) or b"").decode() for i in range(result.nfields)]
    return transformer.load_rows(0, result.ntuples, lambda values: dict(zip(names, values, strict=True)))


@cache
def _numbered(sql: str) -> tuple[str, tuple[str, ...], tuple[PyFormat, ...], tuple[str | None, ...]]:
    """psycopg's placeholders as the server's (`$1`, `$2`, ...; `%%` as `%`), with the parameters' names in
    order (a named parameter used twice is one), the format each asks for, and the element type of the array
    each is cast to where its first use casts it to one."""
    names: list[str] = []
    formats: list[PyFormat] = []
    elements: list[str | None] = []

    def number(match: re.Match[str]) -> str:
        name, kind, cast, element = match.groups()
        if kind == "%":
            return "%" + (cast or "")
        if name is None or name not in names:
            names.append(name or str(len(names)))
            formats.append(PyFormat.BINARY if kind == "b" else PyFormat.AUTO)
            elements.append(element)
        return f"${names.index(name) + 1 if name is not None else len(names)}{cast or ''}"

    return _PLACEHOLDER.sub(number, sql), tuple(names), tuple(formats), tuple(elements)
