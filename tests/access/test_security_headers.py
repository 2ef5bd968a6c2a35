"""What every response carries, and what none does (issue 17, low findings), against a real service:
security headers on every route and status, no Swagger UI from a public CDN, and no 422 that repeats the
identity number or password it was sent."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from cloud.access import directory, tokens
from cloud.access.roles import Role
from cloud.db.pool import connect
from cloud.middleware import SECURITY_HEADERS, ServiceMiddleware
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import SEEDER

IDENTITY_NUMBER = "15014010022"
PASSWORD = "hunter2-Kj8vQ-secret"


async def _admin(url: str) -> dict[str, str]:
    async with await connect(url) as conn:
        municipality = await directory.ensure_municipality(conn, "0301", "Oslo")
        admin = await directory.add_staff(
            conn, actor=SEEDER, municipality=municipality, username="headers.admin", display_name="Admin",
            role=Role.MUNICIPALITY_ADMIN, team_ids=[], password=None,
        )  # fmt: skip
        _token, secret = await tokens.issue(
            conn, SEEDER, staff_id=admin, municipality_id=municipality, label="tests", lifetime=timedelta(days=1)
        )
        return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
def service(access_db: TestDatabase) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    admin = asyncio.run(_admin(access_db.runtime_url))
    with cloud_serve(access_db.runtime_url, TRYGGHEIM_AUTH_MODE="local") as url, httpx.Client(base_url=url) as client:
        yield client, admin


def _assert_secured(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.request.url, response.status_code, name)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.slow
def test_every_route_and_status_carries_the_security_headers(service: tuple[httpx.Client, dict[str, str]]) -> None:
    client, admin = service
    seen = set()
    for method, path, kwargs, status in (
        ("GET", "/healthz", {}, 200),
        ("GET", "/readyz", {}, 200),
        ("GET", "/metrics", {}, 200),
        ("GET", "/signin", {}, 200),
        ("GET", "/", {}, 303),
        ("GET", "/openapi.json", {}, 200),
        ("GET", "/api/v1/patients", {"headers": admin}, 200),
        ("GET", "/api/v1/worklist", {}, 401),
        ("GET", "/api/v1/worklist", {"headers": {"Authorization": "Bearer not-a-token"}}, 401),
        ("GET", "/alerts/1", {"headers": admin}, 404),
        ("GET", "/no/such/page", {}, 404),
        ("DELETE", "/healthz", {}, 405),
        ("POST", "/api/v1/ingest", {"content": b"{}", "headers": {"Content-Type": "application/json"}}, 401),
        ("POST", "/api/v1/gateways/enrol", {"json": {}}, 422),
        ("POST", "/api/v1/gateways/enrol", {"json": {"code": "AAAA-BBBB-CCCC"}}, 400),
    ):
        response = client.request(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        _assert_secured(response)
        seen.add(status)
    assert seen == {200, 303, 400, 401, 404, 405, 422}


def test_an_unhandled_error_is_answered_with_the_security_headers() -> None:
    """A 500 is produced outside the application's handlers; the middleware answers it itself."""

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("a fault")

    client = TestClient(ServiceMiddleware(broken, demo=False, body_timeout_s=5), raise_server_exceptions=False)
    response = client.get("/")
    assert response.status_code == 500
    _assert_secured(response)


@pytest.mark.slow
def test_no_swagger_ui_from_a_public_cdn(service: tuple[httpx.Client, dict[str, str]]) -> None:
    client, _ = service
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path
    assert client.get("/openapi.json").json()["openapi"]
    page = client.get("/signin").text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), page


@pytest.mark.slow
def test_a_422_never_repeats_what_it_was_sent(service: tuple[httpx.Client, dict[str, str]]) -> None:
    client, admin = service
    for body in (
        {"display_name": "Kari", "national_id": int(IDENTITY_NUMBER), "password": PASSWORD},  # the probe's input
        {"display_name": "Kari", "national_id": IDENTITY_NUMBER + "99", "token": PASSWORD},
        {"display_name": ["Kari", IDENTITY_NUMBER], IDENTITY_NUMBER: PASSWORD},
    ):
        response = client.post("/api/v1/patients", json=body, headers=admin)
        assert response.status_code == 422, response.text
        _assert_secured(response)
        assert IDENTITY_NUMBER not in response.text and PASSWORD not in response.text, response.text
        assert '"input"' not in response.text, response.text
        # Still says what is wrong, and where.
        assert all(error["loc"] and error["msg"] for error in response.json()["detail"]), response.text
