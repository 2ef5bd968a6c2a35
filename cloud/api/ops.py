"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

import common
from cloud import telemetry
from cloud.access.policy import Public
from cloud.db.migrate import applied_revision

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers", dependencies=[Public])
async def healthz(request: Request) -> dict[str, Any]:
    """Cheap and dependency-free; `mode` is `demo` while local accounts are enabled."""
    body: dict[str, Any] = {"status": "ok", "version": common.VERSION}
    if request.app.state.settings.auth_mode == "local":
        body["mode"] = "demo"
    return body


@router.get("/readyz", summary="Readiness: database reachable, schema current", dependencies=[Public])
async def readyz(request: Request) -> JSONResponse:
    """503 with the reason while the database is unreachable or the schema is not this code's."""
    try:
        async with request.app.state.pool.connection(timeout=2) as conn:
            current = await applied_revision(conn)
    except Exception as exc:  # any failure here means "not ready", and the body says which
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    head = request.app.state.schema_head
    if current != head:
        return JSONResponse({"status": "unavailable", "schema": current, "expected": head}, status_code=503)
    return JSONResponse({"status": "ok", "schema": current})


@router.get("/metrics", summary="Prometheus metrics", dependencies=[Public], response_class=PlainTextResponse)
async def prometheus(request: Request) -> PlainTextResponse:
    """Ingest rate, batch latency, quarantine by reason, pool usage. With `TRYGGHEIM_METRICS_TOKEN` set, only
    for `Authorization: Bearer <token>` (the figures hold no personal data, but volumes per outcome are the
    municipalities' business)."""
    token = request.app.state.settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise HTTPException(401, "Send the metrics token: Authorization: Bearer <token>.",
                                {"WWW-Authenticate": "Bearer"})  # fmt: skip
    pool_registry = CollectorRegistry()
    pool_registry.register(telemetry.PoolCollector(request.app.state.pool))
    pool_registry.register(telemetry.PoolCollector(request.app.state.gateway_pool, "tryggheim_db_gateway_pool"))
    body = generate_latest(telemetry.REGISTRY) + generate_latest(pool_registry)
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)
