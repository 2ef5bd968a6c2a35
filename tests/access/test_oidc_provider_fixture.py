"""The test OpenID provider (tests/support/oidc.py) behaves like HelseID and ID-porten where our code relies on it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.oidc import (
    OidcProvider,
    SignInRefusedError,
    client_assertion,
    dpop_proof,
    new_keys,
    oidc_provider,
    public_jwks,
)

pytestmark = pytest.mark.slow

RESOURCE = "tryggheim:api"
REDIRECT = "http://127.0.0.1:9/callback"
SIGNED_OUT = "http://127.0.0.1:9/signed-out"
NURSE = {
    "helseid://claims/identity/pid": "13116900216",
    "helseid://claims/hpr/hpr_number": "565501872",
    "helseid://claims/identity/security_level": "4",
    "helseid://claims/client/claims/orgnr_parent": "974600951",
    "name": "Kari Nordmann",
}
HELSEID_SCOPE = (
    "openid profile helseid://scopes/identity/pid helseid://scopes/hpr/hpr_number "
    "helseid://scopes/identity/security_level tryggheim:api/staff"
)
CLIENT_KEY = RSAKey.generate_key(2048)
CITIZEN_SECRET = secrets.token_urlsafe(32)


def _client(client_id: str, **auth: object) -> dict[str, object]:
    return {"client_id": client_id, "redirect_uris": [REDIRECT], "post_logout_redirect_uris": [SIGNED_OUT],
            "grant_types": ["authorization_code"], "response_types": ["code"], **auth}  # fmt: skip


@pytest.fixture(scope="module")
def helseid() -> Iterator[OidcProvider]:
    staff_app = _client("staff-app", token_endpoint_auth_method="private_key_jwt", jwks=public_jwks(CLIENT_KEY),
                        dpop_bound_access_tokens=True)  # fmt: skip
    with oidc_provider(profile="helseid", clients=[staff_app], accounts={"kari": NURSE}, resource=RESOURCE,
                       resource_scopes=["tryggheim:api/staff"]) as provider:  # fmt: skip
        yield provider


@pytest.fixture(scope="module")
def idporten() -> Iterator[OidcProvider]:
    citizen_app = _client("citizen-app", token_endpoint_auth_method="client_secret_basic", client_secret=CITIZEN_SECRET)
    with oidc_provider(profile="idporten", clients=[citizen_app], accounts={"ola": {"pid": "24079422446"}},
                       resource=RESOURCE, resource_scopes=["tryggheim:api/citizen"]) as provider:  # fmt: skip
        yield provider


def _authorize_url(provider: OidcProvider, client_id: str, scope: str, **extra: str) -> str:
    query = {"client_id": client_id, "response_type": "code", "redirect_uri": REDIRECT, "scope": scope,
             "state": "s1", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",  # RFC 7636 appendix B
             "code_challenge_method": "S256", **extra}  # fmt: skip
    return f"{provider.metadata()['authorization_endpoint']}?{urlencode(query)}"


def test_the_metadata_names_the_endpoints_and_requires_s256(helseid: OidcProvider) -> None:
    metadata = helseid.metadata()
    assert metadata["issuer"] == helseid.issuer
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri", "end_session_endpoint"):
        assert metadata[endpoint].startswith(f"{helseid.issuer}/"), endpoint
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "ES256" in metadata["dpop_signing_alg_values_supported"]
    assert "helseid://claims/hpr/hpr_number" in metadata["claims_supported"]


def test_a_helseid_token_is_a_dpop_bound_jwt_for_the_api_with_the_identity_claims(helseid: OidcProvider) -> None:
    dpop_key = new_keys()
    tokens = helseid.user_tokens("staff-app", "kari", scope=HELSEID_SCOPE, resource=RESOURCE, redirect_uri=REDIRECT,
                                 client_key=CLIENT_KEY, dpop_key=dpop_key)  # fmt: skip
    assert tokens["token_type"] == "DPoP"
    access = jwt.decode(tokens["access_token"], helseid.key_set(), algorithms=["RS256"])
    assert access.header["typ"] == "at+jwt"
    assert access.claims["iss"] == helseid.issuer
    assert access.claims["aud"] == RESOURCE
    assert access.claims["scope"] == "tryggheim:api/staff"
    assert (access.claims["client_id"], access.claims["sub"]) == ("staff-app", "kari")
    assert access.claims["cnf"] == {"jkt": dpop_key.thumbprint()}
    assert {name: access.claims[name] for name in NURSE} == NURSE
    identity = jwt.decode(tokens["id_token"], helseid.key_set(), algorithms=["RS256"]).claims
    assert identity["aud"] == "staff-app"
    assert {name: identity[name] for name in NURSE} == NURSE


def test_the_token_endpoint_demands_a_dpop_nonce(helseid: OidcProvider) -> None:
    endpoint = helseid.metadata()["token_endpoint"]
    dpop_key = new_keys()

    def exchange(nonce: str | None) -> httpx.Response:
        form = {"grant_type": "authorization_code", "code": "unknown", "redirect_uri": REDIRECT,
                "code_verifier": "v" * 43, "client_assertion": client_assertion(CLIENT_KEY, "staff-app", endpoint),
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}  # fmt: skip
        return httpx.post(endpoint, data=form, headers={"DPoP": dpop_proof(dpop_key, "POST", endpoint, nonce=nonce)})

    first = exchange(None)
    assert (first.status_code, first.json()["error"]) == (400, "use_dpop_nonce")
    # With the nonce the proof passes and the request fails only on its made-up code.
    second = exchange(first.headers["DPoP-Nonce"])
    assert (second.status_code, second.json()["error"]) == (400, "invalid_grant")


def test_an_idporten_token_carries_the_pid_and_the_security_level_chosen(idporten: OidcProvider) -> None:
    tokens = idporten.user_tokens("citizen-app", "ola", scope="openid tryggheim:api/citizen", resource=RESOURCE,
                                  redirect_uri=REDIRECT, client_secret=CITIZEN_SECRET,
                                  acr="idporten-loa-high")  # fmt: skip
    assert tokens["token_type"] == "Bearer"
    keys = idporten.key_set()
    access = jwt.decode(tokens["access_token"], keys, algorithms=["RS256"]).claims
    identity = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
    for claims in (access, identity):
        assert (claims["pid"], claims["acr"]) == ("24079422446", "idporten-loa-high")
    assert access["aud"] == RESOURCE


def test_an_unknown_login_is_refused(idporten: OidcProvider) -> None:
    with httpx.Client() as browser, pytest.raises(SignInRefusedError, match="Unknown login: nobody"):
        idporten.sign_in(browser, _authorize_url(idporten, "citizen-app", "openid"), "nobody", "idporten-loa-high")


def test_signing_out_ends_the_providers_session(idporten: OidcProvider) -> None:
    with httpx.Client() as browser:
        landing = idporten.sign_in(browser, _authorize_url(idporten, "citizen-app", "openid"), "ola",
                                   "idporten-loa-substantial")  # fmt: skip
        assert "code" in parse_qs(urlsplit(landing).query)
        silent = _authorize_url(idporten, "citizen-app", "openid", prompt="none")
        assert "code" in parse_qs(urlsplit(idporten.sign_in(browser, silent, "ola")).query)
        query = urlencode({"client_id": "citizen-app", "post_logout_redirect_uri": SIGNED_OUT, "state": "bye"})
        assert idporten.sign_out(browser, f"{idporten.metadata()['end_session_endpoint']}?{query}") == (
            f"{SIGNED_OUT}?state=bye"
        )
        after = parse_qs(urlsplit(idporten.sign_in(browser, silent, "ola")).query)
        assert after["error"] == ["login_required"]
