"""The demo's HelseID stand-in (tryggheim/demo/helseid_standin.py) with the VKP stand-in: the machine client gets
a token from it and journals, and it refuses what HelseID refuses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import ECKey

from cloud.access.provider import IdentityProvider
from cloud.interop.clients import read_key
from cloud.interop.helseid import InteropRefused, MachineClient
from tests.interop.conftest import CLIENT_KEY, OTHER_KEY
from tests.support.oidc import client_assertion, dpop_proof, new_keys
from tryggheim.demo.fhir_peer import PMD_AUDIENCE, PMD_SCOPE, VKP_AUDIENCE, VKP_SCOPE
from tryggheim.demo.helseid_standin import HelseIdStandIn, start_national_services

pytestmark = pytest.mark.slow
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def standin() -> Iterator[HelseIdStandIn]:
    """The stand-in with client "demo-vkp" (CLIENT_KEY) and the VKP and PMD APIs."""
    apis = {VKP_AUDIENCE: (VKP_SCOPE,), PMD_AUDIENCE: (PMD_SCOPE,)}
    with HelseIdStandIn({"demo-vkp": CLIENT_KEY}, apis, echo=None) as server:
        yield server


def test_the_demo_services_journal_with_a_client_from_its_key_file(tmp_path: Path) -> None:
    printed: list[str] = []
    services = start_national_services(tmp_path, ["demo-0301"], echo=printed.append)

    async def scenario() -> list[int]:
        async with httpx.AsyncClient() as http:
            key = read_key(str(services.key_files["demo-0301"]))
            client = MachineClient(IdentityProvider(services.helseid.issuer, http), "demo-0301", key, [VKP_SCOPE],
                                   service="VKP")  # fmt: skip
            url = f"{services.peer.vkp_base}/974600951/Bundle"
            document = {"resourceType": "Bundle", "type": "document", "entry": []}
            return [(await client.request("POST", url, json=document, headers={"ServiceCodes": "dho"})).status_code
                    for _ in range(2)]  # fmt: skip

    try:
        assert asyncio.run(scenario()) == [201, 201]
        assert [c.status for c in services.peer.received()] == [401, 201, 201]  # the nonce demand, once
    finally:
        services.stop()
    assert services.key_files["demo-0301"].stat().st_mode & 0o777 == 0o600
    # In the demo's language, bokmål unless TRYGGHEIM_LANG says otherwise.
    assert printed[0] == f"HelseID-token til demo-0301: nhn:vkp [{VKP_SCOPE}], DPoP-bundet, 300 s"
    assert printed[-1].startswith("VKP POST /vkp/974600951/Bundle fra demo-0301 servicecodes=dho document Bundle")


@pytest.mark.parametrize(
    ("key", "scope", "error"),
    [(OTHER_KEY, VKP_SCOPE, "invalid_client"), (CLIENT_KEY, "nhn:vkp/api/user/patient.read", "invalid_scope")],
)
def test_the_standin_refuses_what_helseid_refuses(standin: HelseIdStandIn, key: ECKey, scope: str, error: str) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient() as http:
            client = MachineClient(IdentityProvider(standin.issuer, http), "demo-vkp", key, [scope], service="VKP")
            await client.token()

    with pytest.raises(InteropRefused, match=error):
        asyncio.run(scenario())


def test_a_replayed_assertion_or_proof_is_refused(standin: HelseIdStandIn) -> None:
    dpop_key, endpoint = new_keys(), standin.token_endpoint

    def ask(assertion: str, proof: str) -> httpx.Response:
        form = {"grant_type": "client_credentials", "scope": VKP_SCOPE, "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion}  # fmt: skip
        return httpx.post(endpoint, data=form, headers={"DPoP": proof})

    asked = ask(client_assertion(CLIENT_KEY, "demo-vkp", endpoint), dpop_proof(dpop_key, "POST", endpoint))
    assert asked.status_code == 400 and asked.json()["error"] == "use_dpop_nonce"
    nonce = asked.headers["dpop-nonce"]
    assertion, proof = (
        client_assertion(CLIENT_KEY, "demo-vkp", endpoint),
        dpop_proof(dpop_key, "POST", endpoint, nonce=nonce),
    )
    granted = ask(assertion, proof)
    assert granted.status_code == 200 and granted.json()["token_type"] == "DPoP"
    again = ask(assertion, dpop_proof(dpop_key, "POST", endpoint, nonce=nonce))
    assert again.status_code == 401 and again.json()["error_description"] == "the assertion's jti was used before"
    replayed = ask(client_assertion(CLIENT_KEY, "demo-vkp", endpoint), proof)
    assert replayed.status_code == 400 and replayed.json()["error_description"] == "the proof's jti was used before"
