"""Local accounts: sign-in, sessions, CSRF, bearer tokens, throttling, demo-mode labels."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.responses import PlainTextResponse

from cloud.access import route_check
from cloud.access.roles import Role
from cloud.config import CloudSettings, settings_error_line
from cloud.middleware import STRICT_TRANSPORT, ServiceMiddleware
from tests.support.app import app_client
from tests.support.services import TestDatabase
from tests.support.tenants import PASSWORD, Tenants


def _login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    response = client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


def test_session_cookie_is_http_only_and_strict(client: TestClient, tenants: Tenants) -> None:
    response = client.post("/auth/login", json={"username": tenants.a.usernames[Role.NURSE], "password": PASSWORD})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    client.cookies.clear()


def test_cookie_session_reads_and_needs_csrf_to_change(client: TestClient, tenants: Tenants) -> None:
    csrf = _login(client, tenants.a.usernames[Role.MUNICIPALITY_ADMIN])
    try:
        assert client.get("/api/v1/me").json()["role"] == "municipality_admin"
        missing = client.post("/api/v1/teams", json={"name": "Vest"})
        assert missing.status_code == 403
        assert "X-CSRF-Token" in missing.json()["detail"]
        wrong = client.post("/api/v1/teams", json={"name": "Vest"}, headers={"X-CSRF-Token": "forged"})
        assert wrong.status_code == 403
        good = client.post("/api/v1/teams", json={"name": "Vest"}, headers={"X-CSRF-Token": csrf})
        assert good.status_code == 201
    finally:
        client.post("/auth/logout", headers={"X-CSRF-Token": csrf})
        client.cookies.clear()


def test_logout_ends_the_session(client: TestClient, tenants: Tenants) -> None:
    csrf = _login(client, tenants.a.usernames[Role.NURSE])
    cookie = client.cookies.get("trygg_session")
    assert client.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.clear()
    client.cookies.set("trygg_session", cookie or "")
    assert client.get("/api/v1/me").status_code == 401
    client.cookies.clear()


def test_forged_cookie_and_unknown_token_are_401(client: TestClient) -> None:
    client.cookies.set("trygg_session", "forged")
    assert client.get("/api/v1/me").status_code == 401
    client.cookies.clear()
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer nope", "Accept-Language": "en"})
    assert response.status_code == 401
    assert "bearer token" in response.json()["detail"]


def test_expired_token_is_401(client: TestClient, tenants: Tenants, access_db: TestDatabase) -> None:
    csrf = _login(client, tenants.a.usernames[Role.NURSE])
    token = client.post("/api/v1/tokens", json={"label": "short"}, headers={"X-CSRF-Token": csrf}).json()["token"]
    client.cookies.clear()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with psycopg.connect(access_db.runtime_url) as conn:
        conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE label = 'short'")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient, tenants: Tenants) -> None:
    wrong = client.post("/auth/login", json={"username": tenants.a.usernames[Role.AUDITOR], "password": "x"})
    unknown = client.post("/auth/login", json={"username": "nobody.here", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_repeated_failures_are_throttled(client: TestClient, tenants: Tenants) -> None:
    username = tenants.b.usernames[Role.INSTALLER]
    codes = [client.post("/auth/login", json={"username": username, "password": "bad"}).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    # From the same client even the right password waits (other clients: tests/access/test_sign_in_throttle.py).
    assert client.post("/auth/login", json={"username": username, "password": PASSWORD}).status_code == 429


def test_staff_admin_is_for_municipality_admins_only(client: TestClient, tenants: Tenants) -> None:
    assert client.get("/api/v1/staff", headers=tenants.a.auth(Role.NURSE)).status_code == 403
    listed = client.get("/api/v1/staff", headers=tenants.a.auth(Role.MUNICIPALITY_ADMIN)).json()
    assert {s["username"] for s in listed} >= set(tenants.a.usernames.values())
    assert not {s["username"] for s in listed} & set(tenants.b.usernames.values())


def test_admin_cannot_put_staff_in_another_municipalitys_team(client: TestClient, tenants: Tenants) -> None:
    response = client.post(
        "/api/v1/staff",
        json={
            "username": f"x{uuid.uuid4().hex[:8]}",
            "display_name": "X",
            "role": "nurse",
            "team_ids": [str(tenants.b.teams["Nord"])],
        },
        headers=tenants.a.auth(Role.MUNICIPALITY_ADMIN),
    )
    assert response.status_code == 409


def test_healthz_and_html_say_demo_mode(client: TestClient) -> None:
    assert client.get("/healthz").json()["mode"] == "demo"
    page = client.get("/", headers={"X-Request-ID": "page-1"})
    assert "demo mode" in page.text
    assert page.headers["x-request-id"] == "page-1" and page.headers["x-tryggheim-mode"] == "demo"
    assert int(page.headers["content-length"]) == len(page.content)
    # A malformed id is replaced by a fresh one, never echoed.
    assert client.get("/healthz", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"] != "bad id\n"
    assert "Demomodus" in page.text  # bokmål first
    assert "Demo mode" in client.get("/", headers={"Accept-Language": "en"}).text


def test_production_mode_has_no_local_sign_in(access_db: TestDatabase) -> None:
    with app_client(access_db.runtime_url, auth_mode="oidc", pool_max=1) as c:
        assert "mode" not in c.get("/healthz").json()
        assert c.post("/auth/login", json={"username": "a", "password": "b"}).status_code == 404
        assert "demo mode" not in c.get("/").text


def test_a_route_without_a_policy_cannot_be_served() -> None:
    router = APIRouter()

    @router.get("/leak")
    async def leak() -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="declares 0 access policies"):
        route_check.mark(router)
    app = FastAPI()
    app.add_api_route("/leak", leak)
    with pytest.raises(RuntimeError, match="/leak"):
        route_check.enforce(app)


def test_an_idle_session_ends_before_its_absolute_limit(
    client: TestClient, tenants: Tenants, access_db: TestDatabase
) -> None:
    _login(client, tenants.a.usernames[Role.NURSE])
    try:
        assert client.get("/api/v1/me").status_code == 200
        with psycopg.connect(access_db.owner_url, autocommit=True) as conn:  # 31 minutes without a request
            conn.execute("UPDATE staff_sessions SET last_seen_at = now() - interval '31 minutes' "
                         "WHERE staff_id = %s", (tenants.a.staff[Role.NURSE],))  # fmt: skip
        assert client.get("/api/v1/me").status_code == 401
    finally:
        client.cookies.clear()


def test_local_accounts_are_refused_in_production() -> None:
    with pytest.raises(ValidationError) as refused:
        CloudSettings(env="production", auth_mode="local")
    assert settings_error_line(refused.value).startswith("TRYGGHEIM_AUTH_MODE=local")
    with pytest.raises(ValidationError):
        CloudSettings(env="production", oidc_issuer="https://helseid-sts.nhn.no", token_binding="bearer")
    assert CloudSettings(env="production", oidc_issuer="https://helseid-sts.nhn.no").token_binding == "dpop_required"


def test_strict_transport_security_only_over_tls() -> None:
    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("ok")(scope, receive, send)

    plain = TestClient(ServiceMiddleware(ok, demo=False, body_timeout_s=5), base_url="http://service.test")
    assert "strict-transport-security" not in plain.get("/").headers
    behind_tls = TestClient(ServiceMiddleware(ok, demo=False, body_timeout_s=5), base_url="https://service.test")
    assert behind_tls.get("/").headers["strict-transport-security"] == STRICT_TRANSPORT


def test_local_api_tokens_are_refused_in_production(access_db: TestDatabase, tenants: Tenants) -> None:
    with app_client(access_db.runtime_url, auth_mode="oidc", pool_max=1, env="production") as production:
        refused = production.get("/api/v1/me", headers=tenants.a.auth(Role.NURSE))
    assert refused.status_code == 401
    assert "identitetstjenesten" in refused.json()["detail"]
