"""Direct routes (cloud/api/direct.py): their requests skip FastAPI's routing, and still get the service
middleware's headers and the application's own error answers."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from cloud import middleware
from cloud.api.direct import DirectLane, direct_route
from cloud.app import create_app
from cloud.config import CloudSettings
from cloud.db.pool import make_pool

pytestmark = pytest.mark.anyio


async def _handler(request: Request) -> Response:
    """Answers what the request's scope shows of routing, or raises what the body names."""
    body = await request.body()
    if body == b"refuse":
        raise HTTPException(401, "who are you?", {"WWW-Authenticate": "Bearer"})
    if body == b"storage":
        raise psycopg.OperationalError("the database went away")
    if body == b"bug":
        raise RuntimeError("a bug")
    return JSONResponse({"routed": "endpoint" in request.scope})


def _app(*, lane: bool) -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/api/v1", route_class=direct_route(_handler))
    # The endpoint only documents the route: a direct route's requests go to `_handler`.
    router.add_api_route("/upload", lambda: None, methods=["POST"])
    app.include_router(router)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"answered_by": "app", "detail": exc.detail}, exc.status_code, exc.headers)

    async def unavailable(request: Request, exc: Exception) -> Response:
        return JSONResponse({"answered_by": "app", "detail": "retry"}, 503)

    app.add_exception_handler(HTTPException, refused)
    app.add_exception_handler(psycopg.OperationalError, unavailable)
    if lane:
        middleware.install(app, demo=False, body_timeout_s=5)
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_a_direct_routes_request_skips_the_routers() -> None:
    async with _client(_app(lane=True)) as lane, _client(_app(lane=False)) as routed:
        assert (await lane.post("/api/v1/upload", content=b"x")).json() == {"routed": False}
        # The control: without the lane FastAPI routes the same request to the same handler.
        assert (await routed.post("/api/v1/upload", content=b"x")).json() == {"routed": True}


async def test_the_lane_keeps_the_service_headers_and_the_applications_error_answers() -> None:
    async with _client(_app(lane=True)) as client:
        ok = await client.post("/api/v1/upload", content=b"x")
        assert ok.headers["x-content-type-options"] == "nosniff" and ok.headers["x-request-id"]
        refused = await client.post("/api/v1/upload", content=b"refuse")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json() == {"answered_by": "app", "detail": "who are you?"}
        assert refused.headers["content-security-policy"].startswith("default-src 'self'")
        unavailable = await client.post("/api/v1/upload", content=b"storage")
        assert unavailable.status_code == 503 and unavailable.json()["answered_by"] == "app"
        bug = await client.post("/api/v1/upload", content=b"bug")
        assert bug.status_code == 500 and bug.text == "Internal Server Error"
        assert bug.headers["x-frame-options"] == "DENY"


async def test_other_methods_and_paths_are_routed_as_before() -> None:
    async with _client(_app(lane=True)) as client:
        assert (await client.get("/api/v1/upload")).status_code == 405
        assert (await client.post("/api/v1/nothing", content=b"x")).status_code == 404
        # The trailing-slash redirect is the router's, so the request went its usual way.
        slashed = await client.post("/api/v1/upload/", content=b"x", follow_redirects=False)
        assert slashed.status_code == 307 and slashed.headers["location"].endswith("/api/v1/upload")


def test_the_service_sends_ingest_down_the_lane() -> None:
    url = "postgresql://tryggheim@127.0.0.1:1/unused"
    app = create_app(make_pool(url, min_size=1, max_size=1, timeout_s=1), CloudSettings(database_url=url))
    assert set(DirectLane(app.router, routes=app.routes).direct) == {("POST", "/api/v1/ingest")}
