"""Sign-in through real provider processes: a HelseID-like one for staff (browser flow in Chromium, and an API
client with DPoP-bound tokens) and an ID-porten-like one for citizens (loa-substantial refused health data,
loa-high sees their own record only). The providers are panva's oidc-provider (tests/support/oidc.py)."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Iterator
from typing import Any
from unittest.mock import ANY
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from cloud.access import directory, relatives
from cloud.access.roles import Role
from cloud.db.pool import connect
from common.ports import free_port
from tests.access.test_provider_tokens import Caller
from tests.support.app import app_client
from tests.support.db import named_rows
from tests.support.fixtures import database_fixture, tenants_fixture
from tests.support.oidc import OidcProvider, new_keys, oidc_provider, public_jwks
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import SEEDER, Tenants, audit_rows
from tests.web.browser import chromium

pytestmark = pytest.mark.slow

federated_db, tenants = database_fixture(), tenants_fixture("federated_db")
NURSE_PID, LEVEL3_PID, STRANGER_PID, CITIZEN_PID = "13116900216", "02058012345", "05047712345", "24079422446"
RELATIVE_PID = "01118312372"  # no patient record: a relative once the citizen invites them
STAFF_API_SCOPE = "tryggheim:api/staff"
CITIZEN_SCOPE = "tryggheim:citizen/self"
HELSEID_SCOPES = ("openid profile helseid://scopes/identity/pid helseid://scopes/hpr/hpr_number "
                  "helseid://scopes/identity/security_level")  # fmt: skip
CLIENT_KEY = new_keys()
API_CLIENT_KEY = new_keys()
API_REDIRECT = "http://127.0.0.1:9/api-client"


def _person(pid: str, level: str = "4", name: str = "Kari Nordmann") -> dict[str, str]:
    return {"helseid://claims/identity/pid": pid, "helseid://claims/identity/security_level": level,
            "helseid://claims/hpr/hpr_number": "565501872", "name": name}  # fmt: skip


@pytest.fixture(scope="module")
def service_url() -> str:
    """Where the service will listen, chosen when the module starts: a port chosen at collection could be taken
    by another test's server by the time this module runs."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def helseid(service_url: str) -> Iterator[OidcProvider]:
    service = {
        "client_id": "tryggheim", "redirect_uris": [f"{service_url}/signin/helseid/callback"],
        "post_logout_redirect_uris": [f"{service_url}/signin?signed_out=true"], "grant_types": ["authorization_code"],
        "response_types": ["code"], "token_endpoint_auth_method": "private_key_jwt", "jwks": public_jwks(CLIENT_KEY),
    }  # fmt: skip
    api_client = {
        "client_id": "journal-integration", "redirect_uris": [API_REDIRECT], "grant_types": ["authorization_code"],
        "response_types": ["code"], "token_endpoint_auth_method": "private_key_jwt",
        "jwks": public_jwks(API_CLIENT_KEY), "dpop_bound_access_tokens": True,
    }  # fmt: skip
    accounts = {"kari": _person(NURSE_PID), "level3": _person(LEVEL3_PID, "3"), "stranger": _person(STRANGER_PID)}
    with oidc_provider(profile="helseid", clients=[service, api_client], accounts=accounts,
                       resource="tryggheim:api", resource_scopes=[STAFF_API_SCOPE]) as provider:  # fmt: skip
        yield provider


@pytest.fixture(scope="module")
def idporten() -> Iterator[OidcProvider]:
    app = {
        "client_id": "tryggheim-citizen", "redirect_uris": [API_REDIRECT, "http://testserver/citizen/signin/callback"],
        "grant_types": ["authorization_code"], "response_types": ["code"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": public_jwks(CLIENT_KEY),
        "dpop_bound_access_tokens": True,
    }  # fmt: skip
    accounts = {"ola": {"pid": CITIZEN_PID}, "ingrid": {"pid": RELATIVE_PID}}
    with oidc_provider(profile="idporten", clients=[app], accounts=accounts,
                       resource="tryggheim:citizen", resource_scopes=[CITIZEN_SCOPE]) as provider:  # fmt: skip
        yield provider


@pytest.fixture(scope="module")
def people(federated_db: TestDatabase, tenants: Tenants) -> dict[str, Any]:
    """The nurse and the level-3 nurse bound by national id; the citizen's patient record (team Nord of A)."""

    async def bind() -> dict[str, Any]:
        async with await connect(federated_db.runtime_url) as conn:
            for pid, name in ((NURSE_PID, "kari"), (LEVEL3_PID, "level3")):
                await directory.add_staff(
                    conn, actor=SEEDER, municipality=tenants.a.municipality_id, username=f"{name}.{pid}",
                    display_name=f"Sykepleier {name}", role=Role.NURSE, team_ids=[tenants.a.teams["Nord"]],
                    password=None, national_id=pid,
                )  # fmt: skip
            await conn.execute(
                "UPDATE patients SET national_id = %s, national_id_kind = 'fnr' WHERE id = %s",
                (CITIZEN_PID, tenants.a.patients["nord"]),
            )
        return {"citizen": tenants.a.patients["nord"], "other": tenants.a.patients["sor"]}

    return asyncio.run(bind())


def _key_text(key: ECKey) -> str:
    return json.dumps(key.as_dict(private=True))


@pytest.fixture(scope="module")
def server(
    federated_db: TestDatabase, people: dict[str, Any], helseid: OidcProvider, service_url: str
) -> Iterator[str]:
    """The real service, signing staff in through the HelseID-like provider."""
    settings = {
        "TRYGGHEIM_PORT": service_url.rsplit(":", 1)[1], "TRYGGHEIM_PUBLIC_URL": service_url,
        "TRYGGHEIM_AUTH_MODE": "oidc",
        "TRYGGHEIM_COOKIE_SECURE": "false", "TRYGGHEIM_EVALUATION": "false", "TRYGGHEIM_ESCALATION": "false",
        "TRYGGHEIM_OIDC_ISSUER": helseid.issuer, "TRYGGHEIM_OIDC_CLIENT_ID": "tryggheim",
        "TRYGGHEIM_OIDC_CLIENT_KEY": _key_text(CLIENT_KEY), "TRYGGHEIM_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    with cloud_serve(federated_db.runtime_url, **settings) as url:
        yield url


def test_a_nurse_signs_in_and_out_through_helseid_in_chromium(
    server: str, helseid: OidcProvider, federated_db: TestDatabase
) -> None:
    callbacks: list[str] = []
    with chromium() as browser:
        page = browser.new_page(base_url=server)
        page.on("request", lambda request: callbacks.append(request.url) if "/callback?" in request.url else None)
        page.goto("/signin")
        page.locator('a[href^="/signin/helseid"]').click()
        page.get_by_label("Login").fill("kari")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server}/**")
        assert "Sykepleier kari" in page.locator("header").inner_text(), page.locator("main").inner_text()
        page.goto("/")  # the worklist: patient data, reached at security level 4
        assert page.locator("h1").count() == 1
        page.locator("form.sign-out button").click()
        page.get_by_role("button", name="Yes, sign me out").click()
        page.wait_for_url(f"{server}/signin?signed_out=true")
        page.goto("/")
        assert "/signin" in page.url  # our session ended too
    # the callback the browser took, replayed: its state was used once and is gone
    [callback] = callbacks
    replayed = httpx.get(callback)
    assert replayed.status_code == 400
    assert "start again" in replayed.text or "på nytt" in replayed.text
    forged = httpx.get(f"{server}/signin/helseid/callback", params={"code": "x", "state": secrets.token_urlsafe(8)})
    assert forged.status_code == 400
    # the used code under a fresh sign-in's state: the provider refuses to redeem it twice
    with httpx.Client(base_url=server, timeout=30) as http:
        fresh = parse_qs(urlsplit(http.get("/signin/helseid").headers["location"]).query)["state"][0]
        used_code = parse_qs(urlsplit(callback).query)["code"][0]
        again = http.get("/signin/helseid/callback", params={"code": used_code, "state": fresh})
    assert again.status_code == 400
    assert "trygg_session" not in again.cookies
    [staff] = named_rows(federated_db.runtime_url, "SELECT hpr_number FROM staff WHERE national_id = %s", NURSE_PID)
    assert staff["hpr_number"] == "565501872"  # as HelseID vouched for it
    sign_ins = [r for r in _audit_by_action(federated_db.runtime_url, "sign_in") if "helseid" in r["resource"]]
    assert (
        sign_ins and "security_level=4" in sign_ins[-1]["resource"] and "client=tryggheim" in sign_ins[-1]["resource"]
    )


def _audit_by_action(url: str, action: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM audit_log WHERE action = %s ORDER BY id", (action,)).fetchall()


def _browser_sign_in(server: str, helseid: OidcProvider, login: str) -> tuple[httpx.Client, httpx.Response]:
    """Sign `login` in with plain HTTP (as a browser without JavaScript would) and follow the callback."""
    http = httpx.Client(base_url=server, timeout=30)
    start = http.get("/signin/helseid", params={"next": "/"})
    assert start.status_code == 303, start.text
    with httpx.Client(timeout=30) as at_provider:
        landing = helseid.sign_in(at_provider, start.headers["location"], login)
    return http, http.get(landing)


def test_a_provider_that_is_down_gives_a_page_not_a_500(federated_db: TestDatabase, people: dict[str, Any]) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    settings = {"oidc_issuer": closed, "oidc_client_id": "tryggheim", "oidc_client_key": _key_text(CLIENT_KEY)}
    with app_client(federated_db.runtime_url, auth_mode="oidc", evaluation=False, escalation=False,
                    **settings) as client:  # fmt: skip
        page = client.get("/signin/helseid", follow_redirects=False)
    assert page.status_code == 503
    assert "identitetstjenesten" in page.text.lower() or "identity provider" in page.text.lower()


def test_an_unknown_person_gets_a_clear_page_not_an_account(server: str, helseid: OidcProvider) -> None:
    http, answer = _browser_sign_in(server, helseid, "stranger")
    assert answer.status_code == 403
    assert "administrator" in answer.text
    assert "trygg_session" not in answer.cookies
    http.close()


def test_a_level_3_sign_in_reaches_no_patient_data(server: str, helseid: OidcProvider, people: dict[str, Any]) -> None:
    http, answer = _browser_sign_in(server, helseid, "level3")
    assert answer.status_code == 303
    response = http.get(f"/api/v1/patients/{people['citizen']}")
    assert response.status_code == 403
    assert "security level" in response.json()["detail"] or "sikkerhetsnivå" in response.json()["detail"]
    http.close()


def test_an_api_client_with_a_dpop_bound_helseid_token_reads_the_patient(
    server: str, helseid: OidcProvider, people: dict[str, Any]
) -> None:
    key = new_keys()
    tokens = helseid.user_tokens("journal-integration", "kari", scope=f"{HELSEID_SCOPES} {STAFF_API_SCOPE}",
                                 resource="tryggheim:api", redirect_uri=API_REDIRECT, client_key=API_CLIENT_KEY,
                                 dpop_key=key)  # fmt: skip
    assert tokens["token_type"] == "DPoP"
    with httpx.Client(base_url=server, timeout=30) as http:
        caller = Caller(http, server, key)
        response = caller.get(f"/api/v1/patients/{people['citizen']}", tokens["access_token"])
        assert response.status_code == 200, response.text
        bearer = http.get(f"/api/v1/patients/{people['citizen']}",
                          headers={"Authorization": f"Bearer {tokens['access_token']}"})  # fmt: skip
        assert bearer.status_code == 401


@pytest.fixture(scope="module")
def citizen_app(federated_db: TestDatabase, people: dict[str, Any], idporten: OidcProvider) -> Iterator[TestClient]:
    settings = {"citizen_issuer": idporten.issuer, "citizen_client_id": "tryggheim-citizen",
                "citizen_client_key": _key_text(CLIENT_KEY), "public_url": "http://testserver"}  # fmt: skip
    with app_client(federated_db.runtime_url, auth_mode="oidc", evaluation=False, escalation=False,
                    **settings) as client:  # fmt: skip
        yield client


def _citizen_token(idporten: OidcProvider, key: ECKey, acr: str, person: str = "ola") -> str:
    tokens = idporten.user_tokens("tryggheim-citizen", person, scope=f"openid {CITIZEN_SCOPE}",
                                  resource="tryggheim:citizen", redirect_uri=API_REDIRECT, client_key=CLIENT_KEY,
                                  dpop_key=key, acr=acr)  # fmt: skip
    return str(tokens["access_token"])


def test_a_citizen_at_substantial_is_refused_health_data(
    citizen_app: TestClient, idporten: OidcProvider, federated_db: TestDatabase
) -> None:
    caller = Caller(citizen_app, "http://testserver")
    response = caller.get("/api/v1/citizen/record", _citizen_token(idporten, caller.key, "idporten-loa-substantial"))
    assert response.status_code == 403
    [record] = audit_rows(federated_db.runtime_url, response.correlation)
    assert (record["outcome"], record["principal_kind"]) == ("denied", "patient")


def test_a_citizen_at_high_sees_their_own_record_only(
    citizen_app: TestClient, idporten: OidcProvider, people: dict[str, Any], federated_db: TestDatabase
) -> None:
    caller = Caller(citizen_app, "http://testserver")
    token = _citizen_token(idporten, caller.key, "idporten-loa-high")
    own = caller.get("/api/v1/citizen/record", token)
    assert own.status_code == 200, own.text
    assert own.json()["id"] == str(people["citizen"])
    [record] = audit_rows(federated_db.runtime_url, own.correlation)
    assert (record["outcome"], record["patient_id"], record["principal_id"]) == (
        "allowed", people["citizen"], str(people["citizen"]),
    )  # fmt: skip
    for path in (f"/api/v1/patients/{people['other']}", f"/api/v1/patients/{people['citizen']}", "/api/v1/worklist"):
        refused = caller.get(path, token)
        assert refused.status_code == 403, (path, refused.text)


def test_a_citizen_signs_in_through_the_pages_and_reaches_their_record(
    citizen_app: TestClient, idporten: OidcProvider, people: dict[str, Any]
) -> None:
    start = citizen_app.get("/citizen/signin", follow_redirects=False)
    assert start.status_code == 303
    with httpx.Client(timeout=30) as at_provider:
        landing = idporten.sign_in(at_provider, start.headers["location"], "ola", acr="idporten-loa-high")
    assert parse_qs(urlsplit(landing).query).get("code")
    answer = citizen_app.get(landing.replace("http://testserver", ""), follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/me"
    own = citizen_app.get("/api/v1/citizen/record")
    assert own.status_code == 200 and own.json()["id"] == str(people["citizen"])
    assert citizen_app.get(f"/api/v1/patients/{people['other']}").status_code == 403
    page = citizen_app.get("/me")
    assert page.status_code == 200 and "Min side" in page.text and "Hvem har sett i journalen min" in page.text
    assert 'action="/citizen/signout"' in page.text
    signed_out = citizen_app.post("/citizen/signout", data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert signed_out.status_code == 303
    assert citizen_app.get("/api/v1/citizen/record").status_code == 401
    citizen_app.cookies.clear()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def test_a_citizen_reads_their_access_log_and_blocks_a_nurse(
    citizen_app: TestClient, idporten: OidcProvider, people: dict[str, Any], tenants: Tenants,
    federated_db: TestDatabase,
) -> None:  # fmt: skip
    nurse = tenants.a.auth(Role.NURSE)
    assert citizen_app.get(f"/api/v1/patients/{people['citizen']}", headers=nurse).status_code == 200
    caller = Caller(citizen_app, "http://testserver")
    token = _citizen_token(idporten, caller.key, "idporten-loa-high")
    log = caller.get("/api/v1/citizen/access-log", token)
    assert log.status_code == 200, log.text
    assert any(e["staff_id"] == str(tenants.a.staff[Role.NURSE]) and e["kind"] == "read" for e in log.json())
    for _attempt in range(2):  # the first POST may be asked for the server's nonce
        proof = caller.proof("POST", "/api/v1/citizen/blocks", token)
        blocked = citizen_app.post("/api/v1/citizen/blocks", json={"staff_id": str(tenants.a.staff[Role.NURSE])},
                                   headers={"Authorization": f"DPoP {token}", "DPoP": proof})  # fmt: skip
        if blocked.status_code != 401:
            break
        caller.nonce = blocked.headers["dpop-nonce"]
    assert blocked.status_code == 201, blocked.text
    assert blocked.json()["requested_by"] == "patient"
    refused = citizen_app.get(f"/api/v1/patients/{people['citizen']}", headers=nurse)
    assert refused.status_code == 403
    assert caller.get("/api/v1/citizen/blocks", token).json()[0]["active"] is True


def test_a_relative_signs_in_through_id_porten_and_loses_access_at_once_on_revoke(
    citizen_app: TestClient, idporten: OidcProvider, people: dict[str, Any], federated_db: TestDatabase
) -> None:
    url, patient = federated_db.runtime_url, people["citizen"]

    async def invite() -> Any:
        async with await connect(url) as conn:
            return await relatives.invite(conn, SEEDER, patient_id=patient, display_name="Ingrid", person=RELATIVE_PID)

    link = asyncio.run(invite())
    start = citizen_app.get("/citizen/signin", follow_redirects=False)
    with httpx.Client(timeout=30) as at_provider:
        landing = idporten.sign_in(at_provider, start.headers["location"], "ingrid", acr="idporten-loa-high")
    answer = citizen_app.get(landing.replace("http://testserver", ""), follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/relative", answer.text
    assert citizen_app.get("/relative", follow_redirects=False).headers["location"] == f"/relative/{patient}"
    assert citizen_app.get(f"/relative/{patient}").status_code == 200
    citizen_app.cookies.clear()
    caller = Caller(citizen_app, "http://testserver")
    token = _citizen_token(idporten, caller.key, "idporten-loa-high", person="ingrid")
    followed = caller.get("/api/v1/citizen/following", token)
    assert followed.status_code == 200 and followed.json() == [{"patient_id": str(patient), "name": ANY}]
    assert caller.get("/api/v1/citizen/record", token).status_code == 403  # not a patient of their own
    view = caller.get(f"/api/v1/citizen/following/{patient}/overview", token)
    assert view.status_code == 200, view.text
    [record] = audit_rows(url, view.correlation)
    assert (record["principal_kind"], record["patient_id"], record["outcome"]) == ("relative", patient, "allowed")

    async def revoke() -> None:
        async with await connect(url) as conn:
            await relatives.revoke(conn, SEEDER, patient_id=patient, relative_id=link.id)

    asyncio.run(revoke())
    refused = caller.get(f"/api/v1/citizen/following/{patient}/overview", token)
    assert refused.status_code == 403
    [record] = audit_rows(url, refused.correlation)
    assert (record["principal_kind"], record["patient_id"], record["outcome"]) == ("relative", patient, "denied")
