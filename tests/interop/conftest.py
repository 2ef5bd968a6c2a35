"""The real OpenID provider set up like HelseID for machine clients, and the VKP/PMD stand-ins, shared by the
interop tests (one provider process and one peer per test worker)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from joserfc.jwk import ECKey

from tests.support.oidc import OidcProvider, new_keys, oidc_provider, public_jwks
from tryggheim.demo.fhir_peer import PMD_AUDIENCE, PMD_SCOPE, VKP_AUDIENCE, VKP_SCOPE, FhirPeer

CLIENT_KEY = new_keys()
OTHER_KEY = new_keys()  # what "refused-client" is registered with; it signs with CLIENT_KEY, so it is refused
SHORT_AUDIENCE = "nhn:short"
SHORT_SCOPE = "nhn:short/api/write"
SHORT_TTL_S = 1
VKP_READ_SCOPE = "nhn:vkp/api/user/patient.read"  # a VKP scope that does not allow journaling


def machine_client(client_id: str, key: ECKey) -> dict[str, Any]:
    """oidc-provider metadata of a HelseID machine client (client credentials, private_key_jwt, DPoP)."""
    return {"client_id": client_id, "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
            "token_endpoint_auth_method": "private_key_jwt", "jwks": public_jwks(key),
            "dpop_bound_access_tokens": True}  # fmt: skip


@pytest.fixture(scope="package")
def helseid() -> Iterator[OidcProvider]:
    """The provider with clients "vkp-client" and "refused-client" and the APIs nhn:vkp, nhn:pmd and a short-lived
    one (tokens of SHORT_TTL_S seconds)."""
    clients = [machine_client("vkp-client", CLIENT_KEY), machine_client("refused-client", OTHER_KEY)]
    resources = {VKP_AUDIENCE: [VKP_SCOPE, VKP_READ_SCOPE], PMD_AUDIENCE: [PMD_SCOPE], SHORT_AUDIENCE: [SHORT_SCOPE]}
    with oidc_provider(profile="helseid", clients=clients, accounts={}, resource=None, resource_scopes=[],
                       resources=resources, token_ttl={SHORT_AUDIENCE: SHORT_TTL_S}) as provider:  # fmt: skip
        yield provider


@pytest.fixture(scope="package")
def running_peer(helseid: OidcProvider) -> Iterator[FhirPeer]:
    """The VKP and PMD stand-ins, trusting `helseid`."""
    with FhirPeer(helseid.issuer, echo=None) as peer:
        yield peer


@pytest.fixture
def peer(running_peer: FhirPeer) -> FhirPeer:
    """The stand-ins, with nothing received, no failure queued and no nonce demanded."""
    running_peer.clear()
    running_peer.require_nonce = running_peer.nonce_loop = False
    running_peer.fail_entries.clear()
    return running_peer
