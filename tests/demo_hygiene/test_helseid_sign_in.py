"""Staff sign in through the demo's HelseID stand-in against a real `tryggheim cloud serve` process, beside the
local accounts (the demo's dual mode), and the stand-in holds a client to HelseID's rules."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from cloud.access import directory, federation
from cloud.access.client_auth import ASSERTION_TYPE, client_assertion, dpop_proof, new_proof_key
from cloud.access.roles import Role
from cloud.config import CloudSettings
from cloud.db.pool import connect
from common.ports import free_port
from tests.support.db import named_rows
from tests.support.fixtures import database_fixture, tenants_fixture
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import PASSWORD, SEEDER, Tenants
from tryggheim.demo import oidc_standin
from tryggheim.demo.helseid_standin import HelseIdStandIn
from tryggheim.demo.oidc_standin import Client, Person

# One worker builds the database and the service once for the whole module (`make test` runs --dist loadgroup).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("helseid-standin")]
sign_in_db, tenants = database_fixture(), tenants_fixture("sign_in_db")
NURSE_PID, AUDITOR_PID, NURSE_HPR = "12837840080", "15868240080", "991234567"
OWN_REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture(scope="module")
def standin() -> Iterator[HelseIdStandIn]:
    with HelseIdStandIn({}, {}, echo=None) as running:
        yield running


@pytest.fixture(scope="module")
def people(sign_in_db: TestDatabase, tenants: Tenants, standin: HelseIdStandIn) -> tuple[Person, ...]:
    """Municipality A's nurse and auditor, known to the stand-in and bound to their staff records."""
    names = tenants.a.usernames
    known = (
        Person(names[Role.NURSE], "Sykepleier A", Role.NURSE, NURSE_PID, NURSE_HPR),
        Person(names[Role.AUDITOR], "Revisor A", Role.AUDITOR, AUDITOR_PID, None),
    )
    standin.sign_in.people = known
    assert oidc_standin.bind_staff(sign_in_db.runtime_url, known) == 2
    assert oidc_standin.bind_staff(sign_in_db.runtime_url, known) == 0  # once: a binding is never replaced
    return known


@pytest.fixture(scope="module")
def service(sign_in_db: TestDatabase, people: tuple[Person, ...], standin: HelseIdStandIn) -> Iterator[str]:
    """The real service with local accounts on and the stand-in as its staff provider, as the demo runs it."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    configured = oidc_standin.client_settings(CloudSettings(public_url=public), standin.register_sign_in,
                                              standin.issuer)  # fmt: skip
    assert configured.oidc_client_key is not None
    settings = {
        "TRYGGHEIM_PORT": str(port), "TRYGGHEIM_PUBLIC_URL": public, "TRYGGHEIM_AUTH_MODE": "local",
        "TRYGGHEIM_COOKIE_SECURE": "false", "TRYGGHEIM_EVALUATION": "false", "TRYGGHEIM_ESCALATION": "false",
        "TRYGGHEIM_OIDC_ISSUER": standin.issuer, "TRYGGHEIM_OIDC_CLIENT_ID": oidc_standin.CLIENT_ID,
        "TRYGGHEIM_OIDC_CLIENT_KEY": configured.oidc_client_key.get_secret_value(),
    }  # fmt: skip
    with cloud_serve(sign_in_db.runtime_url, **settings) as url:
        yield url


def _choose(authorize_url: str, login: str) -> httpx.Response:
    """At the stand-in's login page: press the button of `login` (or Cancel with "")."""
    page = httpx.get(authorize_url)
    assert page.status_code == 200, page.text
    handle = re.search(r'name="request" value="([^"]+)"', page.text)
    assert handle is not None, page.text
    issuer = authorize_url.split("/connect/", 1)[0]
    return httpx.post(f"{issuer}/connect/authorize", data={"request": handle.group(1), "login": login})


def test_a_nurse_signs_in_through_helseid_sees_the_worklist_and_signs_out(
    service: str, people: tuple[Person, ...], sign_in_db: TestDatabase
) -> None:
    with httpx.Client(base_url=service, timeout=30) as browser:
        form = browser.get("/signin").text
        assert 'href="/signin/helseid' in form and 'name="password"' in form  # both ways on one page
        start = browser.get("/signin/helseid", params={"next": "/"})
        assert start.status_code == 303
        page = httpx.get(start.headers["location"]).text
        assert "Sykepleier A" in page and "Revisor A" in page and f"HPR-nummer {NURSE_HPR}" in page
        back = _choose(start.headers["location"], people[0].username)
        assert back.status_code == 303 and back.headers["location"].startswith(f"{service}/signin/helseid/callback")
        landed = browser.get(back.headers["location"])
        assert landed.status_code == 303, landed.text
        worklist = browser.get("/")
        assert worklist.status_code == 200 and "/signin" not in str(worklist.url)
        assert "Arbeidsliste" in worklist.text and "Sykepleier" in worklist.text
        assert browser.get("/api/v1/worklist").status_code == 200  # patient data: security level 4
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', worklist.text)
        assert csrf is not None
        out = browser.post("/signout", data={"csrf_token": csrf.group(1)})
        assert out.status_code == 303 and out.headers["location"].startswith(f"{standin_of(start)}/connect/endsession")
        ended = httpx.get(out.headers["location"])
        assert ended.status_code == 303 and ended.headers["location"] == f"{service}/signin?signed_out=true"
        assert browser.get("/").headers.get("location", "").startswith("/signin")
    [staff] = named_rows(sign_in_db.runtime_url, "SELECT hpr_number FROM staff WHERE national_id = %s", NURSE_PID)
    assert staff["hpr_number"] == NURSE_HPR
    [record] = named_rows(
        sign_in_db.runtime_url,
        "SELECT resource FROM audit_log WHERE action = 'sign_in' AND resource LIKE 'session via helseid%%' "
        "ORDER BY id DESC LIMIT 1",
    )
    assert f"security_level=4 hpr={NURSE_HPR}" in record["resource"] and oidc_standin.CLIENT_ID in record["resource"]


def standin_of(start: httpx.Response) -> str:
    """The issuer the service sent the browser to."""
    return start.headers["location"].split("/connect/", 1)[0]


def test_local_accounts_still_sign_in_beside_helseid(service: str, tenants: Tenants) -> None:
    with httpx.Client(base_url=service, timeout=30) as browser:
        signed_in = browser.post("/signin", data={"username": tenants.a.usernames[Role.NURSE], "password": PASSWORD})
        assert signed_in.status_code == 303, signed_in.text
        assert browser.get("/").status_code == 200
        assert browser.get("/healthz").json()["mode"] == "demo"


def test_cancel_at_helseid_comes_back_as_a_refusal(service: str, people: tuple[Person, ...]) -> None:
    with httpx.Client(base_url=service, timeout=30) as browser:
        start = browser.get("/signin/helseid")
        back = _choose(start.headers["location"], "")
        assert parse_qs(urlsplit(back.headers["location"]).query)["error"] == ["access_denied"]
        refused = browser.get(back.headers["location"])
        assert refused.status_code == 400 and "trygg_session" not in refused.cookies


def _token(standin: HelseIdStandIn, key: ECKey, proof_key: ECKey, form: dict[str, str]) -> httpx.Response:
    """A token request as the sign-in client `own` makes it, with the DPoP nonce retry."""
    nonce = None
    for _attempt in range(2):
        body = {**form, "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(key, "own", standin.token_endpoint)}  # fmt: skip
        proof = dpop_proof(proof_key, "POST", standin.token_endpoint, nonce=nonce)
        answer = httpx.post(standin.token_endpoint, data=body, headers={"DPoP": proof})
        if answer.status_code == 400 and answer.json()["error"] == "use_dpop_nonce" and nonce is None:
            nonce = answer.headers["dpop-nonce"]
            continue
        return answer
    raise AssertionError("the nonce was asked for twice")


def _code(standin: HelseIdStandIn, challenge: str, nonce: str, login: str) -> str:
    query = {"client_id": "own", "redirect_uri": OWN_REDIRECT, "response_type": "code", "scope": "openid profile",
             "state": "s1", "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"}  # fmt: skip
    back = _choose(str(httpx.URL(f"{standin.issuer}/connect/authorize", params=query)), login)
    answer = parse_qs(urlsplit(back.headers["location"]).query)
    assert answer["state"] == ["s1"] and answer["iss"] == [standin.issuer]
    return answer["code"][0]


def test_the_standin_holds_a_client_to_helseids_rules(standin: HelseIdStandIn, people: tuple[Person, ...]) -> None:
    key = ECKey.generate_key("P-256")
    standin.register_sign_in(Client("own", frozenset({OWN_REDIRECT}), frozenset()), key)
    # an unregistered redirect is never followed; a plain PKCE method is refused back to the client
    bad = httpx.get(f"{standin.issuer}/connect/authorize", params={"client_id": "own", "redirect_uri": "http://evil/"})
    assert bad.status_code == 400 and "location" not in bad.headers
    plain = httpx.get(f"{standin.issuer}/connect/authorize", params={
        "client_id": "own", "redirect_uri": OWN_REDIRECT, "response_type": "code", "scope": "openid",
        "code_challenge": "x" * 43, "code_challenge_method": "plain"})  # fmt: skip
    assert "error=invalid_request" in plain.headers["location"]
    verifier, proof_key = secrets.token_urlsafe(48), new_proof_key()
    code = _code(standin, create_s256_code_challenge(verifier), "n-1", people[0].username)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": OWN_REDIRECT}
    wrong = _token(standin, key, proof_key, {**form, "code_verifier": secrets.token_urlsafe(48)})
    assert wrong.json()["error"] == "invalid_grant"  # and the code is spent
    code = _code(standin, create_s256_code_challenge(verifier), "n-2", people[0].username)
    form["code"] = code
    unsigned = httpx.post(standin.token_endpoint, data={**form, "code_verifier": verifier})
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "invalid_client"
    answer = _token(standin, key, proof_key, {**form, "code_verifier": verifier})
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    keys = KeySet.import_key_set(httpx.get(f"{standin.issuer}/jwks").json())
    claims = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
    assert (claims["aud"], claims["nonce"], claims["iss"]) == ("own", "n-2", standin.issuer)
    assert claims[federation.HELSEID_PID] == NURSE_PID and claims[federation.HELSEID_HPR] == NURSE_HPR
    assert claims[federation.HELSEID_SECURITY_LEVEL] == "4"
    access = jwt.decode(tokens["access_token"], keys, algorithms=["RS256"])
    assert access.header["typ"] == "at+jwt" and access.claims["cnf"] == {"jkt": proof_key.thumbprint()}
    assert tokens["token_type"] == "DPoP"
    again = _token(standin, key, proof_key, {**form, "code_verifier": verifier})
    assert again.json()["error"] == "invalid_grant"  # a code is redeemed once


def test_a_national_id_binds_one_staff_member_once(
    sign_in_db: TestDatabase, tenants: Tenants, people: tuple[Person, ...]
) -> None:
    async def rebind() -> bool:
        async with await connect(sign_in_db.runtime_url) as conn:
            with pytest.raises(directory.DirectoryError):  # the nurse's number, for the team lead
                await directory.bind_national_id(conn, SEEDER, tenants.a.staff[Role.TEAM_LEAD], NURSE_PID)
            return await directory.bind_national_id(conn, SEEDER, tenants.a.staff[Role.NURSE], "05047712345")

    assert asyncio.run(rebind()) is False  # bound already: never silently rebound
    rows = named_rows(sign_in_db.runtime_url, "SELECT resource FROM audit_log WHERE action = 'staff.bind_helseid'")
    assert sorted(row["resource"] for row in rows) == sorted(
        f"staff/{tenants.a.staff[role]}" for role in (Role.NURSE, Role.AUDITOR)
    )


def test_the_standins_access_token_reaches_the_api_with_dpop(
    service: str, standin: HelseIdStandIn, people: tuple[Person, ...]
) -> None:
    """An API client signed in through the stand-in calls the service with the DPoP-bound access token."""
    key, proof_key, verifier = ECKey.generate_key("P-256"), new_proof_key(), secrets.token_urlsafe(48)
    standin.register_sign_in(Client("own", frozenset({OWN_REDIRECT}), frozenset()), key)
    query = {"client_id": "own", "redirect_uri": OWN_REDIRECT, "response_type": "code", "scope": "openid",
             "state": "s2", "code_challenge": create_s256_code_challenge(verifier),
             "code_challenge_method": "S256"}  # fmt: skip
    back = _choose(str(httpx.URL(f"{standin.issuer}/connect/authorize", params=query)), people[0].username)
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": OWN_REDIRECT, "code_verifier": verifier}
    token = _token(standin, key, proof_key, form).json()["access_token"]
    url, nonce = f"{service}/api/v1/worklist", None
    for _attempt in range(2):
        proof = dpop_proof(proof_key, "GET", url, nonce=nonce, access_token=token)
        answer = httpx.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        if answer.status_code == 401 and "dpop-nonce" in answer.headers and nonce is None:
            nonce = answer.headers["dpop-nonce"]
            continue
        break
    assert answer.status_code == 200, answer.text
    assert "patients" in answer.json()
