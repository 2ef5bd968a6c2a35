"""Staff API tokens from a HelseID-compatible provider, checked by HelseID's rules for APIs, with DPoP required
(the deployment's `token_binding`).

The forged tokens are the HelseID test token service's fault list (wrong key, `alg: none`, wrong `typ`, wrong
`iss`, two audiences, expired, `nbf` ahead, missing scope, missing `pid`, security level 3) and each DPoP fault
(wrong `htm`, `htu`, `ath`, stale `iat`, a replayed `jti` on another process, a key that is not the token's,
no nonce). Each is refused with 401 or 403 as HelseID's profile says, and each refusal on a patient route leaves
a denied audit record naming the patient. The issuer is a real HTTP server the test controls
(tests/support/issuer.py), so keys can rotate and the provider can fail.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from cloud.access import directory
from cloud.access.dpop import access_token_hash
from cloud.access.roles import Role
from cloud.db.pool import connect
from tests.support.app import app_client
from tests.support.fixtures import database_fixture, tenants_fixture
from tests.support.issuer import Issuer, issuer_server, staff_claims, unsigned
from tests.support.oidc import dpop_proof, new_keys
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import SEEDER, Tenants, audit_rows

pytestmark = pytest.mark.slow

tokens_db, tenants = database_fixture(), tenants_fixture("tokens_db")
BASE = "http://testserver"


def _person() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(11))


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with issuer_server() as running:
        yield running


@pytest.fixture(scope="module")
def nurse(tokens_db: TestDatabase, tenants: Tenants) -> str:
    """The national id of a nurse of municipality A's team Nord, bound for HelseID sign-in."""
    pid = _person()

    async def add() -> None:
        async with await connect(tokens_db.runtime_url) as conn:
            await directory.add_staff(
                conn, actor=SEEDER, municipality=tenants.a.municipality_id, username=f"helseid.{pid}",
                display_name="HelseID nurse", role=Role.NURSE, team_ids=[tenants.a.teams["Nord"]], password=None,
                national_id=pid,
            )  # fmt: skip

    asyncio.run(add())
    return pid


def _settings(issuer: Issuer) -> dict[str, Any]:
    return {"auth_mode": "oidc", "oidc_issuer": issuer.issuer, "token_binding": "dpop_required"}


@pytest.fixture(scope="module")
def client(tokens_db: TestDatabase, tenants: Tenants, issuer: Issuer) -> Iterator[TestClient]:
    with app_client(tokens_db.runtime_url, evaluation=False, escalation=False, **_settings(issuer)) as test_client:
        yield test_client


class Caller:
    """A DPoP client: proofs signed with its key, the server's nonce remembered and retried once."""

    def __init__(self, http: TestClient | httpx.Client, base: str, key: ECKey | None = None) -> None:
        self.http, self.base, self.key = http, base, key or new_keys()
        self.nonce: str | None = None

    def bound(self, issuer: Issuer, pid: str, **changes: Any) -> str:
        """A token for `pid` bound to this caller's key."""
        return issuer.mint(staff_claims(issuer.issuer, pid, cnf={"jkt": self.key.thumbprint()}, **changes))

    def proof(self, method: str, path: str, token: str, **overrides: Any) -> str:
        nonce = overrides.pop("nonce", self.nonce)
        return dpop_proof(self.key, method, self.base + path, access_token=token, nonce=nonce, **overrides)

    def get(self, path: str, token: str, *, proof: str | None = None, scheme: str = "DPoP", **overrides: Any) -> Any:
        """GET `path` with the token and a fresh proof (or `proof` as given, sent once)."""
        for _attempt in range(2):
            sent = proof or self.proof("GET", path, token, **overrides)
            correlation = uuid.uuid4().hex
            headers = {"Authorization": f"{scheme} {token}", "DPoP": sent, "X-Request-ID": correlation}
            response = self.http.get(path, headers=headers)
            challenge = response.headers.get("www-authenticate", "")
            if response.status_code == 401 and "use_dpop_nonce" in challenge and proof is None and self.nonce is None:
                self.nonce = response.headers["dpop-nonce"]
                continue
            response.correlation = correlation  # type: ignore[union-attr]
            return response
        return response


def _patient_path(tenants: Tenants) -> str:
    return f"/api/v1/patients/{tenants.a.patients['nord']}"


def _denied_for_patient(url: str, response: Any, patient: uuid.UUID) -> None:
    records = audit_rows(url, response.correlation)
    assert [(r["outcome"], r["patient_id"]) for r in records] == [("denied", patient)], records


def test_a_valid_dpop_token_reads_the_nurses_patient_and_is_audited(
    client: TestClient, issuer: Issuer, nurse: str, tenants: Tenants, tokens_db: TestDatabase
) -> None:
    caller = Caller(client, BASE)
    response = caller.get(_patient_path(tenants), caller.bound(issuer, nurse))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == str(tenants.a.patients["nord"])
    [record] = audit_rows(tokens_db.runtime_url, response.correlation)
    assert (record["outcome"], record["principal_kind"], record["role"]) == ("allowed", "staff", "nurse")


TOKEN_FAULTS = {
    # name: (claims changes, header changes, sign with an unpublished key, expected status)
    "wrong key": ({}, {}, True, 401),
    "wrong typ": ({}, {"typ": "id_token+jwt"}, False, 401),
    "wrong iss": ({"iss": "https://helseid-sts.example/"}, {}, False, 401),
    "two audiences": ({"aud": ["tryggheim:api", "nhn:vkp"]}, {}, False, 401),
    "other audience": ({"aud": "nhn:vkp"}, {}, False, 401),
    "expired": ({"exp": int(time.time()) - 60}, {}, False, 401),
    "nbf in the future": ({"nbf": int(time.time()) + 600}, {}, False, 401),
    "missing scope": ({"scope": "openid"}, {}, False, 403),
    "missing pid": ({"pid": None}, {}, False, 403),
    "unknown person": ({"pid": "01010199999"}, {}, False, 403),
    "another organisation": ({"orgnr": "999999999"}, {}, False, 403),
    "security level 3": ({"level": "3"}, {}, False, 403),
}


@pytest.mark.parametrize("fault", TOKEN_FAULTS)
def test_each_forged_token_is_refused_and_audited_against_the_patient(
    client: TestClient, issuer: Issuer, nurse: str, tenants: Tenants, tokens_db: TestDatabase, fault: str
) -> None:
    changes, header, stray_key, status = TOKEN_FAULTS[fault]
    caller = Caller(client, BASE)
    claims = staff_claims(issuer.issuer, nurse, cnf={"jkt": caller.key.thumbprint()}, **changes)
    key = ECKey.generate_key("P-256", auto_kid=True) if stray_key else None
    token = issuer.mint(claims, key=key, header=header)
    response = caller.get(_patient_path(tenants), token)
    assert response.status_code == status, (fault, response.text)
    _denied_for_patient(tokens_db.runtime_url, response, tenants.a.patients["nord"])
    if status == 401:
        assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')


def test_an_unsigned_token_is_refused(client: TestClient, issuer: Issuer, nurse: str, tenants: Tenants) -> None:
    caller = Caller(client, BASE)
    token = unsigned(staff_claims(issuer.issuer, nurse, cnf={"jkt": caller.key.thumbprint()}))
    response = caller.get(_patient_path(tenants), token)
    assert response.status_code == 401
    assert "alg none" in response.json()["detail"]


PROOF_FAULTS = {
    "wrong htm": {"htm": "POST"},
    "wrong htu": {"htu": f"{BASE}/api/v1/patients"},
    "htu not an address": {"htu": "http://[not-an-address"},
    "wrong ath": {"ath": access_token_hash("another token")},
    "stale iat": {"iat": int(time.time()) - 600},
    "iat in the future": {"iat": int(time.time()) + 600},
    "wrong typ": {"typ": "jwt"},
    "no jti": {"jti": None},
    "private key in jwk": {"jwk": "private"},
    "key is not the token's": {"jwk": "other"},
}


@pytest.mark.parametrize("fault", PROOF_FAULTS)
def test_each_broken_proof_is_refused(
    client: TestClient, issuer: Issuer, nurse: str, tenants: Tenants, tokens_db: TestDatabase, fault: str
) -> None:
    caller = Caller(client, BASE)
    token = caller.bound(issuer, nurse)
    assert caller.get("/api/v1/worklist", token).status_code == 200  # learns the nonce; the token is good
    overrides = dict(PROOF_FAULTS[fault])
    if overrides.get("jwk") == "private":
        overrides["jwk"] = caller.key.as_dict(private=True)
    elif overrides.get("jwk") == "other":
        other = new_keys()  # a valid proof by another key: the thumbprint is not the token's cnf.jkt
        proof = dpop_proof(other, "GET", BASE + _patient_path(tenants), access_token=token, nonce=caller.nonce)
        response = caller.get(_patient_path(tenants), token, proof=proof)
        assert response.status_code == 401
        assert 'error="invalid_dpop_proof"' in response.headers["www-authenticate"]
        _denied_for_patient(tokens_db.runtime_url, response, tenants.a.patients["nord"])
        return
    response = caller.get(_patient_path(tenants), token, **overrides)
    assert response.status_code == 401, (fault, response.text)
    assert 'error="invalid_dpop_proof"' in response.headers["www-authenticate"]
    _denied_for_patient(tokens_db.runtime_url, response, tenants.a.patients["nord"])


def test_a_proof_without_the_servers_nonce_gets_one_and_is_refused(
    client: TestClient, issuer: Issuer, nurse: str, tenants: Tenants
) -> None:
    caller = Caller(client, BASE)
    token = caller.bound(issuer, nurse)
    response = caller.get(_patient_path(tenants), token, proof=caller.proof("GET", _patient_path(tenants), token))
    assert response.status_code == 401
    assert 'error="use_dpop_nonce"' in response.headers["www-authenticate"]
    nonce = response.headers["dpop-nonce"]
    stale = caller.get(_patient_path(tenants), token, proof=caller.proof("GET", _patient_path(tenants), token,
                                                                          nonce="0.bm90LWEtbm9uY2U"))  # fmt: skip
    assert stale.status_code == 401
    caller.nonce = nonce
    assert caller.get(_patient_path(tenants), token).status_code == 200


def test_bearer_is_refused_for_a_bound_token_and_when_dpop_is_required(
    client: TestClient, issuer: Issuer, nurse: str, tenants: Tenants
) -> None:
    caller = Caller(client, BASE)
    bound = caller.bound(issuer, nurse)
    response = client.get(_patient_path(tenants), headers={"Authorization": f"Bearer {bound}"})
    assert response.status_code == 401
    assert "DPoP-bound" in response.json()["detail"]
    plain = issuer.mint(staff_claims(issuer.issuer, nurse))
    response = client.get(_patient_path(tenants), headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 401
    assert "only as DPoP-bound" in response.json()["detail"]
    assert caller.get(_patient_path(tenants), plain).status_code == 401  # DPoP scheme, but the token is unbound


def test_a_replayed_proof_is_refused_by_another_process(
    client: TestClient, issuer: Issuer, nurse: str, tenants: Tenants, tokens_db: TestDatabase
) -> None:
    caller = Caller(client, BASE)
    token = caller.bound(issuer, nurse)
    path = _patient_path(tenants)
    assert caller.get(path, token).status_code == 200  # learns the nonce
    server = cloud_serve(tokens_db.runtime_url, TRYGGHEIM_AUTH_MODE="oidc", TRYGGHEIM_OIDC_ISSUER=issuer.issuer,
                         TRYGGHEIM_EVALUATION="false", TRYGGHEIM_ESCALATION="false")  # fmt: skip
    with server as other, httpx.Client(base_url=other, timeout=30) as http:
        remote = Caller(http, other, caller.key)
        remote.nonce = caller.nonce  # nonces are the deployment's: any process accepts another's
        proof = remote.proof("GET", path, token)
        first = remote.get(path, token, proof=proof)
        assert first.status_code == 200, first.text
        replay = remote.get(path, token, proof=proof)
    assert replay.status_code == 401
    assert "replayed" in replay.json()["detail"]
    # the in-process application, a third process of the deployment, refuses the same proof too (the Host
    # header makes the request's address the one the proof was made for)
    again = client.get(path, headers={"Authorization": f"DPoP {token}", "DPoP": proof, "Host": other[7:]})
    assert again.status_code == 401, again.text
    assert "replayed" in again.json()["detail"]


def test_a_rotated_key_is_fetched_once_and_an_unpublished_one_refused(
    tokens_db: TestDatabase, issuer: Issuer, nurse: str, tenants: Tenants
) -> None:
    # an application of its own: the shared one's unknown-key refresh may have been spent by the tests above
    with app_client(tokens_db.runtime_url, evaluation=False, escalation=False, **_settings(issuer)) as client:
        _rotation(client, issuer, nurse)


def _rotation(client: TestClient, issuer: Issuer, nurse: str) -> None:
    caller = Caller(client, BASE)
    assert caller.get("/api/v1/worklist", caller.bound(issuer, nurse)).status_code == 200
    fetched = issuer.key_fetches
    issuer.rotate()
    assert caller.get("/api/v1/worklist", caller.bound(issuer, nurse)).status_code == 200
    assert issuer.key_fetches == fetched + 1
    stray = ECKey.generate_key("P-256", auto_kid=True)
    token = issuer.mint(staff_claims(issuer.issuer, nurse, cnf={"jkt": caller.key.thumbprint()}), key=stray)
    refused = caller.get("/api/v1/worklist", token)
    assert refused.status_code == 401
    assert "does not publish" in refused.json()["detail"]
    # the rotation's refresh was the one an unknown key may cause within REFRESH_SPACING_S: a forger choosing
    # fresh key ids cannot make us fetch the issuer's keys on every request
    assert issuer.key_fetches == fetched + 1


@pytest.mark.parametrize("broken", ["down", "garbage", "no_jwks_uri"])
def test_a_provider_that_is_down_or_answers_garbage_gives_503_not_500(
    tokens_db: TestDatabase, tenants: Tenants, nurse: str, broken: str, issuer: Issuer
) -> None:
    with issuer_server() as failing:
        failing.broken = broken
        settings = _settings(failing)
        with app_client(tokens_db.runtime_url, evaluation=False, escalation=False, **settings) as test_client:
            caller = Caller(test_client, BASE)
            response = caller.get(_patient_path(tenants), caller.bound(failing, nurse))
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    _denied_for_patient(tokens_db.runtime_url, response, tenants.a.patients["nord"])
