"""What the schemathesis runs share: the operations of the running service, the hypothesis settings for a
live server, and checks beyond "no server error"."""

from __future__ import annotations

import secrets
import time
from typing import Any
from uuid import UUID

import httpx
import psycopg
import schemathesis
from hypothesis import HealthCheck, settings
from joserfc.jwk import ECKey
from schemathesis import Case, CheckContext, CheckFunction, Response
from schemathesis.schemas import APIOperation

from tests.support.issuer import Issuer, staff_claims
from tests.support.oidc import dpop_proof


def api_operations(server: str, *, exclude_path: str | None = None, **include: Any) -> list[APIOperation]:
    """The operations of the service's own OpenAPI document at `server` that the schemathesis filters in
    `include` select, less the path `exclude_path`."""
    api = schemathesis.openapi.from_url(f"{server}/openapi.json").include(**include)
    if exclude_path is not None:
        api = api.exclude(path=exclude_path)
    return [result.ok() for result in api.get_all_operations()]


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings for a run against the live service: no deadline and no health checks (every example
    is an HTTP request to a real database, far slower than hypothesis expects) and no example database."""
    return settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def no_foreign_marker(marker: str) -> CheckFunction:
    """A schemathesis check that fails when `marker` (another municipality's marker string) appears in a
    response body, however it is encoded there."""
    needle = marker.encode()

    def no_foreign_data(ctx: CheckContext, response: Response, case: Case) -> Any:
        if needle in response.content:
            raise AssertionError(
                f"{case.method} {case.formatted_path} answered with another municipality's marker {marker!r}"
            )
        return None

    return no_foreign_data


class ProviderCredentials:
    """A staff member's DPoP-bound access token from a HelseID-like issuer, as a schemathesis run presents it:
    `headers(case)` gives each request its own proof (method, address, token hash, the server's nonce), so the
    runs exercise the provider-token path instead of a local token."""

    NONCE_REFRESH_S = 200  # a nonce holds for 300-600 s (cloud/access/dpop.py)

    def __init__(self, server: str, token: str, key: ECKey) -> None:
        self.server, self.token, self.key = server, token, key
        self._nonce: str | None = None
        self._nonce_at = 0.0

    def current_nonce(self) -> str:
        """The server's nonce, fetched again before it would expire."""
        if self._nonce is None or time.monotonic() - self._nonce_at > self.NONCE_REFRESH_S:
            url = f"{self.server}/api/v1/me"
            proof = dpop_proof(self.key, "GET", url, access_token=self.token)
            probe = httpx.get(url, headers={"Authorization": f"DPoP {self.token}", "DPoP": proof})
            assert probe.status_code == 401 and "dpop-nonce" in probe.headers, probe.text
            self._nonce, self._nonce_at = probe.headers["dpop-nonce"], time.monotonic()
        return self._nonce

    def headers(self, case: Case) -> dict[str, str]:
        """Authorization and a fresh DPoP proof for `case`."""
        url = f"{self.server}{case.formatted_path}"
        proof = dpop_proof(self.key, case.method.upper(), url, access_token=self.token, nonce=self.current_nonce())
        return {"Authorization": f"DPoP {self.token}", "DPoP": proof}


def provider_credentials(server: str, runtime_url: str, issuer: Issuer, staff_id: UUID) -> ProviderCredentials:
    """`staff_id` bound to a fresh national id and given an hour's DPoP-bound token by `issuer` (which the
    server at `server` trusts); fails unless the server accepts it."""
    pid = "".join(secrets.choice("0123456789") for _ in range(11))
    with psycopg.connect(runtime_url, autocommit=True) as conn:
        conn.execute("UPDATE staff SET national_id = %s WHERE id = %s", (pid, staff_id))
    key = ECKey.generate_key("P-256")
    claims = staff_claims(issuer.issuer, pid, cnf={"jkt": key.thumbprint()}, exp=int(time.time()) + 3600)
    credentials = ProviderCredentials(server, issuer.mint(claims), key)
    url = f"{server}/api/v1/me"
    proof = dpop_proof(key, "GET", url, access_token=credentials.token, nonce=credentials.current_nonce())
    accepted = httpx.get(url, headers={"Authorization": f"DPoP {credentials.token}", "DPoP": proof})
    assert accepted.status_code == 200, accepted.text  # the run below is not a wall of 401s
    return credentials
