"""`tryggheim cloud serve`: the HTTP service on uvicorn."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from collections.abc import Callable

import uvicorn
import uvloop

from cloud.app import create_app, end_long_responses
from cloud.config import CloudSettings
from cloud.db.pool import make_pool
from cloud.http_writes import JoinedWritesProtocol
from cloud.runtime import Database, check_audit_anchor, check_runtime_role, check_schema, database
from common.logs import configure_logging

log = logging.getLogger(__name__)

# Objects a request allocates (an ingest batch makes thousands of small dicts and tuples) die young; the
# default threshold of 700 runs a young collection several times per batch and promotes what is merely in
# flight, which then costs full collections.
_GC_YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """Garbage collection for a long-running server: what exists after start-up (modules, the app, the
    catalogues) is frozen out of collections, and young collections run less often, because full collections
    over the start-up objects were a visible share of each ingest request (figures: docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def run_server(settings: CloudSettings, db: Database, *, on_started: Callable[[str], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn handles both and returns)."""
    check_runtime_role(db.runtime_url)
    check_schema(db.runtime_url)
    pool = make_pool(
        db.runtime_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        timeout_s=settings.db_connect_timeout_s,
    )
    app = create_app(pool, settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
        # A response's headers and body in one system call (cloud/http_writes.py).
        http=JoinedWritesProtocol,
        # Forwarded headers only from the proxies named in TRYGGHEIM_TRUSTED_PROXIES. uvicorn's default
        # believes any loopback peer, so X-Forwarded-For chose the client address that the sign-in and
        # enrolment throttles count by.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=[str(network) for network in settings.trusted_proxies],
        # No `limit_concurrency`: past it uvicorn answers every new request 503, so sockets an attacker
        # holds open would lock nurses out. Bodies have a deadline instead (cloud/middleware.py), and an idle
        # keep-alive connection is closed after uvicorn's 5 s.
    )
    server = uvicorn.Server(config)
    tune_gc()
    # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown so that a plain process ends by
    # the signal; we still have a database to stop, so those become an ordinary return here.
    previous = {sig: signal.signal(sig, _stop_requested) for sig in (signal.SIGINT, signal.SIGTERM)}
    asked: list[float] = []  # when the stop signal was seen

    def stop_requested() -> None:
        asked.append(time.monotonic())
        end_long_responses(app)

    try:
        # uvloop: the event loop's socket and callback work is a sizeable share of each ingest request
        # (psycopg and uvicorn both run on it), and uvloop does it for less (docs/benchmarks.md).
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(server, f"http://{settings.host}:{settings.port}", on_started, stop_requested))
    except _StopRequestedError:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # After uvicorn's own last line: closing the loop also waits for work in its threads (an e-mail being sent).
    if asked:
        log.info("stopped serving %.1f s after the stop signal", time.monotonic() - asked[0])


class _StopRequestedError(Exception):
    """SIGINT or SIGTERM arrived after the HTTP server had shut down."""


def _stop_requested(signum: int, frame: object) -> None:
    raise _StopRequestedError


async def _serve(server: uvicorn.Server, url: str, on_started: Callable[[str], None] | None,
                 on_stopping: Callable[[], None]) -> None:  # fmt: skip
    task = asyncio.create_task(server.serve())
    # uvicorn offers no start-up callback; `started` flips once the socket is bound.
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    if server.started and on_started is not None:
        on_started(url)
    # Nor a stop callback: it looks at `should_exit` (set by SIGINT/SIGTERM) every 0.1 s, and so does this,
    # so that responses that never end by themselves end before uvicorn starts waiting for them.
    while not server.should_exit and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    on_stopping()
    await task


def serve(
    settings: CloudSettings,
    *,
    on_started: Callable[[str], None] | None = None,
    prepare: Callable[[Database], None] | None = None,
    before_stop: Callable[[], None] | None = None,
) -> None:
    """Start (or attach to) the database, run `prepare` (the demo seeds data there), serve, and call
    `before_stop` when serving ends; start-up errors raise StartupError."""
    check_audit_anchor(settings)
    with database(settings) as db:
        if prepare is not None:
            prepare(db)
        configure_logging(settings.log_level)
        try:
            run_server(settings, db, on_started=on_started)
        finally:
            # Clients of this process (the demo's agents) stop before the database does.
            if before_stop is not None:
                before_stop()
