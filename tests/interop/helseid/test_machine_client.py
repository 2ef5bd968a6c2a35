"""The HelseID machine client against the real OpenID provider and the VKP/PMD stand-ins: the client credentials
grant with private_key_jwt and DPoP, nonce retries at both ends, the token cache, and every failure bounded and
worded."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any, TypeVar

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from cloud.access.client_auth import client_assertion
from cloud.access.dpop import access_token_hash
from cloud.access.provider import IdentityProvider
from cloud.interop.helseid import HELSEID_REFUSED, InteropRefused, InteropUnavailable, MachineClient
from common.i18n import translations
from common.ports import free_port
from tests.interop.conftest import CLIENT_KEY, SHORT_SCOPE, SHORT_TTL_S, VKP_READ_SCOPE
from tests.support.oidc import OidcProvider, dpop_proof
from tryggheim.demo.fhir_peer import PMD_SCOPE, VKP_SCOPE, FhirPeer, summary

pytestmark = pytest.mark.slow
T = TypeVar("T")
ORGNR = "974600951"
DOCUMENT = {"resourceType": "Bundle", "type": "document", "entry": [
    {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Composition"}},
    {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "DetectedIssue"}},
]}  # fmt: skip
VKP_HEADERS = {"ServiceCodes": "dho", "Content-Type": "application/fhir+json"}


class Counted:
    """An HTTP client for a test that counts its calls to the token endpoint."""

    def __init__(self) -> None:
        self.token_requests = 0
        self.http = httpx.AsyncClient(event_hooks={"request": [self._count]})

    async def _count(self, request: httpx.Request) -> None:
        if request.url.path.endswith("/token"):
            self.token_requests += 1

    def client(self, issuer: str, client_id: str = "vkp-client", scopes: tuple[str, ...] = (VKP_SCOPE,),
               service: str = "VKP", key: ECKey = CLIENT_KEY) -> MachineClient:  # fmt: skip
        return MachineClient(IdentityProvider(issuer, self.http), client_id, key, scopes, service=service)


def run(scenario: Callable[[Counted], Awaitable[T]]) -> T:
    """Run `scenario` on a fresh event loop with a fresh counting HTTP client."""

    async def go() -> T:
        counted = Counted()
        async with counted.http:
            return await scenario(counted)

    return asyncio.run(go())


def test_the_assertion_follows_the_helseid_rules() -> None:
    token = client_assertion(CLIENT_KEY, "vkp-client", "https://helseid.example/connect/token")
    claims = jwt.decode(token, CLIENT_KEY, algorithms=["ES256"]).claims
    assert claims["iss"] == claims["sub"] == "vkp-client"
    assert claims["aud"] == "https://helseid.example/connect/token"
    assert 0 < claims["exp"] - claims["iat"] <= 60
    second = jwt.decode(client_assertion(CLIENT_KEY, "vkp-client", "x"), CLIENT_KEY, algorithms=["ES256"]).claims
    assert second["jti"] != claims["jti"]


def test_journaling_posts_with_a_dpop_bound_token_nonces_answered_once_and_one_token(
    helseid: OidcProvider, peer: FhirPeer
) -> None:
    peer.require_nonce = True

    async def scenario(counted: Counted) -> tuple[list[httpx.Response], str]:
        client = counted.client(helseid.issuer)
        url = f"{peer.vkp_base}/{ORGNR}/Bundle"
        answers = [await client.request("POST", url, json=DOCUMENT, headers=VKP_HEADERS) for _ in range(3)]
        # The provider demanded its nonce at the token endpoint: two requests, then none for the next calls.
        assert counted.token_requests == 2
        return answers, await client.token()

    answers, token = run(scenario)
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert answers[0].json()["type"] == "document" and answers[0].json()["id"]
    calls = peer.received("vkp")
    assert [c.status for c in calls] == [401, 201, 201, 201]  # the peer's nonce demand, once
    assert calls[0].refused is not None and calls[0].refused.startswith("use_dpop_nonce")
    accepted = calls[1]
    assert accepted.client_id == "vkp-client"
    assert accepted.headers["servicecodes"] == "dho"
    assert accepted.proof["ath"] == access_token_hash(token)
    assert accepted.proof["htm"] == "POST" and accepted.proof["htu"] == f"{peer.vkp_base}/{ORGNR}/Bundle"
    assert accepted.proof["nonce"]
    claims = jwt.decode(token, helseid.key_set(), algorithms=["RS256"]).claims
    assert (claims["aud"], claims["scope"], claims["client_id"]) == ("nhn:vkp", VKP_SCOPE, "vkp-client")
    assert set(claims["cnf"]) == {"jkt"}
    assert "VKP POST /vkp/974600951/Bundle fra vkp-client servicecodes=dho document Bundle" in summary(accepted)


def test_pmd_batch_answers_each_entry_by_full_url(helseid: OidcProvider, peer: FhirPeer) -> None:
    peer.fail_entries.add("urn:uuid:b")
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"fullUrl": f"urn:uuid:{n}", "resource": {"resourceType": "Observation"},
         "request": {"method": "POST", "url": "Observation"}} for n in "abc"
    ]}  # fmt: skip

    async def scenario(counted: Counted) -> httpx.Response:
        client = counted.client(helseid.issuer, scopes=(PMD_SCOPE,), service="PMD")
        headers = {"person-id": "13116900216", "correlation-id": "c-1"}
        return await client.request("POST", f"{peer.pmd_base}/Bundle", json=batch, headers=headers)

    answer = run(scenario).json()
    assert answer["type"] == "batch-response"
    statuses = {entry["fullUrl"]: entry["response"]["status"] for entry in answer["entry"]}
    assert statuses == {"urn:uuid:a": "201 Created", "urn:uuid:b": "400 Bad Request", "urn:uuid:c": "201 Created"}
    failed = next(e for e in answer["entry"] if e["fullUrl"] == "urn:uuid:b")
    assert failed["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert peer.received("pmd")[0].headers["correlation-id"] == "c-1"


def test_a_vkp_token_is_refused_by_pmd(helseid: OidcProvider, peer: FhirPeer) -> None:
    async def scenario(counted: Counted) -> None:
        client = counted.client(helseid.issuer)  # a token for nhn:vkp
        await client.request("POST", f"{peer.pmd_base}/Bundle", json={}, headers={})

    with pytest.raises(InteropRefused, match="refused the access token of client vkp-client"):
        run(scenario)
    calls = peer.received("pmd")
    assert len(calls) == 2  # one renewal of the token, then the refusal: no loop
    assert all(c.refused and "audience must be exactly 'nhn:pmd'" in c.refused for c in calls)


def test_a_token_without_the_journaling_scope_is_answered_403(helseid: OidcProvider, peer: FhirPeer) -> None:
    async def scenario(counted: Counted) -> httpx.Response:
        client = counted.client(helseid.issuer, scopes=(VKP_READ_SCOPE,))
        return await client.request("POST", f"{peer.vkp_base}/{ORGNR}/Bundle", json=DOCUMENT, headers=VKP_HEADERS)

    answer = run(scenario)
    assert answer.status_code == 403 and 'error="insufficient_scope"' in answer.headers["www-authenticate"]
    assert [c.status for c in peer.received()] == [403]


def test_the_token_is_renewed_after_it_expires(helseid: OidcProvider) -> None:
    async def scenario(counted: Counted) -> None:
        client = counted.client(helseid.issuer, scopes=(SHORT_SCOPE,), service="short")
        first = await client.token()
        assert await client.token() == first
        assert counted.token_requests == 2  # the nonce retry
        await asyncio.sleep(SHORT_TTL_S)
        assert await client.token() != first
        assert counted.token_requests == 3  # the nonce the provider gave is reused

    run(scenario)


def test_a_revoked_token_is_renewed_once(helseid: OidcProvider, peer: FhirPeer) -> None:
    async def scenario(counted: Counted) -> list[int]:
        client = counted.client(helseid.issuer)
        url = f"{peer.vkp_base}/{ORGNR}/Bundle"
        await client.token()
        peer.fail_next(1, "invalid_token")
        statuses = [(await client.request("POST", url, json=DOCUMENT, headers=VKP_HEADERS)).status_code]
        peer.fail_next(2, "invalid_token")
        with pytest.raises(InteropRefused, match=r"VKP refused the access token .*invalid_token"):
            await client.request("POST", url, json=DOCUMENT, headers=VKP_HEADERS)
        return statuses

    assert run(scenario) == [201]
    calls = peer.received("vkp")
    assert [c.status for c in calls] == [401, 201, 401, 401]
    assert calls[0].proof["ath"] != calls[1].proof["ath"]  # a new token after the refusal


def test_errors_on_demand_reach_the_caller_as_answers(helseid: OidcProvider, peer: FhirPeer) -> None:
    peer.fail_next(1, "outcome")
    peer.fail_next(1, "unavailable")
    peer.fail_next(1, "not_json")

    async def scenario(counted: Counted) -> list[httpx.Response]:
        client = counted.client(helseid.issuer)
        url = f"{peer.vkp_base}/{ORGNR}/Bundle"
        return [await client.request("POST", url, json=DOCUMENT, headers=VKP_HEADERS) for _ in range(4)]

    answers = run(scenario)
    assert [a.status_code for a in answers] == [400, 503, 200, 201]
    assert answers[0].json()["resourceType"] == "OperationOutcome"
    with pytest.raises(json.JSONDecodeError):
        answers[2].json()


def test_the_peer_checks_the_proof(helseid: OidcProvider, peer: FhirPeer) -> None:
    bound = ECKey.generate_key("P-256")
    token = helseid.client_credentials("vkp-client", scope=VKP_SCOPE, client_key=CLIENT_KEY, dpop_key=bound)
    url = f"{peer.vkp_base}/{ORGNR}/Bundle"
    auth = {"Authorization": f"DPoP {token}", **VKP_HEADERS}
    good = dpop_proof(bound, "POST", url, access_token=token)
    faults = [
        (dpop_proof(ECKey.generate_key("P-256"), "POST", url, access_token=token), "not the one the access token"),
        (dpop_proof(bound, "POST", url, access_token=token, ath=None), "ath does not match"),
        (dpop_proof(bound, "POST", url, access_token="another", ath=None), "ath does not match"),
        (dpop_proof(bound, "POST", f"{peer.pmd_base}/Bundle", access_token=token), "htu"),
        (dpop_proof(bound, "PUT", url, access_token=token), "htm"),
        (dpop_proof(bound, "POST", url, access_token=token, iat=int(time.time()) - 600), "iat is not recent"),
        (good, None),
        (good, "used before"),
    ]
    for proof, why in faults:
        answer = httpx.post(url, json=DOCUMENT, headers={**auth, "DPoP": proof})
        if why is None:
            assert answer.status_code == 201
            continue
        assert answer.status_code == 401 and 'error="invalid_dpop_proof"' in answer.headers["www-authenticate"]
        assert why in answer.json()["issue"][0]["diagnostics"]
    assert [c.status for c in peer.received()] == [401] * 6 + [201, 401]


def test_a_refused_assertion_is_a_clear_error(helseid: OidcProvider) -> None:
    async def scenario(counted: Counted) -> None:
        await counted.client(helseid.issuer, client_id="refused-client").token()

    with pytest.raises(
        InteropRefused, match=r"HelseID refused client refused-client for VKP \(401, invalid_client"
    ) as refused:
        run(scenario)
    assert (refused.value.summary, refused.value.error) == (HELSEID_REFUSED, "invalid_client")
    assert translations("nb").gettext(refused.value.summary) == "HelseID avviste klienten vår"


def test_an_unreachable_provider_is_unavailable() -> None:
    async def scenario(counted: Counted) -> None:
        await counted.client(f"http://127.0.0.1:{free_port()}").token()

    with pytest.raises(InteropUnavailable, match="cannot be reached"):
        run(scenario)


def test_a_nonce_loop_at_the_peer_is_bounded(helseid: OidcProvider, peer: FhirPeer) -> None:
    peer.nonce_loop = True

    async def scenario(counted: Counted) -> None:
        await counted.client(helseid.issuer).request("POST", f"{peer.vkp_base}/{ORGNR}/Bundle", json=DOCUMENT)

    with pytest.raises(InteropUnavailable, match="VKP kept asking for a new DPoP nonce"):
        run(scenario)
    assert len(peer.received()) == 2


def test_a_nonce_loop_at_the_token_endpoint_is_bounded() -> None:
    """A token endpoint that demands a new nonce every time (the real provider never does; a small server
    plays one)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _nonce_looping_provider())
    Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    server.issuer = issuer  # type: ignore[attr-defined]
    started = time.monotonic()
    try:

        async def scenario(counted: Counted) -> None:
            try:
                await counted.client(issuer).token()
            finally:
                assert counted.token_requests == 2

        with pytest.raises(InteropUnavailable, match="HelseID's token endpoint kept asking for a new DPoP nonce"):
            run(scenario)
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - started < 5


def _nonce_looping_provider() -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            """Quiet."""

        def _send(self, status: int, document: dict[str, Any], headers: dict[str, str]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            issuer = self.server.issuer  # type: ignore[attr-defined]
            self._send(200, {"issuer": issuer, "jwks_uri": f"{issuer}/jwks", "token_endpoint": f"{issuer}/token",
                             "authorization_endpoint": f"{issuer}/authorize"}, {})  # fmt: skip

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self._send(400, {"error": "use_dpop_nonce"}, {"DPoP-Nonce": str(time.monotonic_ns())})

    return Handler
