"""The FastAPI application: routers, middleware, the pool, and the access-policy check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

import common
from cloud import middleware
from cloud.access import route_check
from cloud.access.anchor_runner import start_anchoring
from cloud.access.provider_tokens import Trust
from cloud.api import (
    alerts,
    audit_log,
    auth,
    baselines,
    burden,
    citizen,
    escalation_settings,
    fhir,
    fleet,
    gateways,
    handover,
    ingest,
    interop,
    interop_clients,
    kits,
    notify_channels,
    ops,
    patients,
    protocols,
    quarantine,
    record_access,
    registry,
    remeasure,
    response_centre,
    series,
    staff,
    suppression,
    triage,
    visits,
    worklist_events,
)
from cloud.config import CloudSettings
from cloud.db.migrate import head_revision
from cloud.db.pool import make_pool
from cloud.escalation.runner import EscalationRunner
from cloud.evaluation.runner import EvaluationRunner
from cloud.ingest.uploads import UploadSlots
from cloud.ingest.validate import storable
from cloud.ingest.writer import IngestWriter
from cloud.interop.runner import InteropRunner
from cloud.registry.errors import RegistryError
from cloud.web import errors as web_errors
from cloud.web import routes as web_routes
from cloud.worklist.actions import ActionRefusedError
from cloud.worklist.live import Broadcaster
from common.logs import mask_identity_numbers

ROUTERS = (
    # Ingest first: routes are matched in order, and its requests are the most numerous by far (matching
    # the 30-odd routes before it cost about 0.1 ms per request).
    ingest.router,
    ops.router,
    auth.router,
    patients.router,
    staff.router,
    audit_log.router,
    gateways.router,
    quarantine.router,
    alerts.router,
    suppression.router,
    registry.router,
    series.router,
    fleet.router,
    kits.router,
    baselines.router,
    remeasure.router,
    triage.router,
    worklist_events.router,
    escalation_settings.router,
    burden.router,
    visits.router,
    response_centre.router,
    handover.router,
    citizen.router,
    record_access.router,
    protocols.router,
    notify_channels.router,
    interop.router,
    interop_clients.router,
    fhir.router,
    fhir.export_router,
    *web_routes.ROUTERS,
)
RETRY_AFTER_S = 5


def create_app(pool: AsyncConnectionPool, settings: CloudSettings, *, evaluation_poll_s: float = 5.0) -> FastAPI:
    """Build the application around an (unopened) pool of runtime-role connections for staff routes, the
    workers and the health checks. Gateway routes get a pool of their own (`app.state.gateway_pool`, same
    database, `settings.db_gateway_pool_max` connections), so gateway traffic can never starve the others.

    With `settings.evaluation` the lifespan also runs the alert evaluation worker (`app.state.evaluation`),
    polling its queue every `evaluation_poll_s` seconds besides waking on alarm notifications.
    """
    gateway_pool = make_pool(
        str(pool.conninfo),
        min_size=min(settings.db_pool_min, settings.db_gateway_pool_max),
        max_size=settings.db_gateway_pool_max,
        timeout_s=pool.timeout,
        name="tryggheim-cloud-gateways",
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await pool.open(wait=False)
        await gateway_pool.open(wait=False)
        workers = await _start_workers(app, pool, settings, evaluation_poll_s)
        try:
            yield
        finally:
            for worker in reversed(workers):
                await worker.stop()
            await gateway_pool.close()
            await pool.close()
            await http.aclose()

    app = FastAPI(
        title="Tryggheim",
        version=common.VERSION,
        description="Remote patient monitoring and welfare technology for Norwegian municipalities.",
        lifespan=lifespan,
        # Swagger UI and ReDoc would load unpinned scripts from a public CDN on the session's origin, and no
        # locked package ships them; the OpenAPI document itself stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.pool = pool
    app.state.gateway_pool = gateway_pool
    app.state.uploads = UploadSlots()
    app.state.ingest_writer = IngestWriter(gateway_pool, settings.ingest_writers)
    app.state.settings = settings
    # One HTTP client for the identity providers' metadata and keys (connections kept between fetches).
    http = httpx.AsyncClient(follow_redirects=False)
    app.state.trust = Trust.from_settings(settings, http)
    app.state.schema_head = head_revision()
    for router in ROUTERS:
        app.include_router(route_check.mark(router))
    route_check.enforce(app)
    _install_middleware(app, settings)

    _answer_errors(app)
    return app


def end_long_responses(app: FastAPI) -> None:
    """The process was told to stop: end the responses that never end by themselves (live worklist streams),
    which uvicorn's graceful shutdown would otherwise wait for until its timeout."""
    live: Broadcaster | None = getattr(app.state, "live", None)  # None when the stop came before start-up
    if live is not None:
        live.end_streams()


async def _start_workers(
    app: FastAPI, pool: AsyncConnectionPool, settings: CloudSettings, evaluation_poll_s: float
) -> list[Any]:
    """Start the process's background workers (those the settings ask for) and return them in the order they
    started; each has `stop()`, and they are stopped in the reverse order."""
    app.state.evaluation = (
        EvaluationRunner(pool, poll_s=evaluation_poll_s, trial_days=settings.baseline_trial_days)
        if settings.evaluation
        else None
    )
    app.state.live = Broadcaster(str(pool.conninfo))
    app.state.escalation = EscalationRunner(pool, settings) if settings.escalation else None
    started: list[Any] = []
    for worker in (app.state.evaluation, app.state.live, app.state.escalation):
        if worker is not None:
            await worker.start()
            started.append(worker)
    app.state.anchoring = await start_anchoring(pool, settings)
    if app.state.anchoring is not None:
        started.append(app.state.anchoring)
    app.state.interop = InteropRunner(pool, settings) if settings.interop else None
    if app.state.interop is not None:
        await app.state.interop.start()
        started.append(app.state.interop)
    return started


def _install_middleware(app: FastAPI, settings: CloudSettings) -> None:
    """The service middleware, with the identity providers' origins as the only other form targets."""
    providers = [urlsplit(issuer) for issuer in (settings.oidc_issuer, settings.citizen_issuer) if issuer]
    middleware.install(
        app,
        demo=settings.auth_mode == "local",
        body_timeout_s=settings.body_timeout_s,
        form_targets=[f"{parts.scheme}://{parts.netloc}" for parts in providers],
    )


def _answer_errors(app: FastAPI) -> None:
    """The answers to exceptions that routes leave to the application."""
    # Page requests get pages (sign-in, 403, 404, ...); API clients keep the JSON answers.
    # `/fhir` answers every error as an OperationOutcome (cloud/api/fhir.py).
    app.add_exception_handler(StarletteHTTPException, fhir.outcomes(web_errors.http_error))
    app.add_exception_handler(RequestValidationError, fhir.outcomes(web_errors.when_page(_invalid_request)))
    app.add_exception_handler(UnicodeEncodeError, _unstorable_value)
    app.add_exception_handler(psycopg.DataError, _unstorable_value)
    app.add_exception_handler(psycopg.OperationalError, _storage_unavailable)
    app.add_exception_handler(PoolTimeout, _storage_unavailable)
    app.add_exception_handler(RegistryError, registry.refused)
    app.add_exception_handler(ActionRefusedError, triage.refused)


async def _storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Nothing was committed: the client retries, and nothing is lost.
    return JSONResponse(
        {"detail": f"Storage unavailable ({type(exc).__name__}); nothing was stored, retry later."},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    # The last line of defence for values PostgreSQL refuses (a NUL character, text with an unpaired
    # surrogate, a number out of range): the transaction is rolled back, so nothing was half-written;
    # routes validate what they can first.
    reason = "text with an unpaired surrogate" if isinstance(exc, UnicodeEncodeError) else str(exc)
    return JSONResponse(
        {"detail": f"A value in the request cannot be stored: {reason.splitlines()[0][:200]}"}, status_code=422
    )


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own handler echoes each error's `input`: an identity number, a password or a name sent
    # in the wrong shape came back in the response (and an unpaired surrogate in it, valid JSON `\ud800`,
    # made the 422 a 500). Type, place and message say what is wrong; the input is never repeated, and
    # identity-number-shaped runs are masked even there (a key of the body can be one).
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{key: value for key, value in error.items() if key != "input"} for error in errors]
    return JSONResponse({"detail": _masked(storable(jsonable_encoder(detail)))}, status_code=422)


def _masked(value: Any) -> Any:
    """`value` (decoded JSON) with every 11-digit run in its strings and keys masked."""
    if isinstance(value, str):
        return mask_identity_numbers(value)
    if isinstance(value, dict):
        return {_masked(key): _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value
