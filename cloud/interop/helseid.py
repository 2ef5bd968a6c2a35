"""A HelseID machine client for one municipality and one national service (VKP, PMD).

The client credentials grant with a `private_key_jwt` client assertion and a DPoP-bound access token, as the
HelseID security profile asks of a system calling an API on its own behalf: the token endpoint comes from the
provider's metadata document (cached a day by `IdentityProvider`), one DPoP key per client object (the token is
bound to it), the token kept until shortly before it expires, and the token endpoint's DPoP nonce answered once.
Requests to the service carry `Authorization: DPoP <token>` and a fresh proof with `ath`; a resource server's
nonce demand and an `invalid_token` answer are each retried once, never in a loop.

Failures are one of two exceptions, worded for a nurse's "journaling failed: <reason>" line and never holding a
secret: `InteropUnavailable` (try again later: unreachable, 5xx, a nonce loop) and `InteropRefused` (our client
or token was refused: the configuration must change).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from joserfc.jwk import Key

from cloud.access.client_auth import ASSERTION_TYPE, client_assertion, dpop_proof, new_proof_key, token_answer
from cloud.access.provider import IdentityProvider, ProviderUnavailable
from common.i18n import N_

TOKEN_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 20.0
RENEW_BEFORE_S = 60.0  # a token is renewed this long before it expires (or at 90 % of a short life)
_DETAIL_MAX = 200  # characters of a provider's error description kept in a message


# What a person reads first (translated: `_(error.summary)`), before the English detail of `str(error)`.
HELSEID_UNREACHABLE = N_("HelseID cannot be reached")
HELSEID_REFUSED = N_("HelseID refused our client")
SERVICE_UNREACHABLE = N_("The national service cannot be reached")
SERVICE_REFUSED = N_("The national service refused our access token")
NONCE_LOOP = N_("A DPoP nonce was asked for again and again")


class InteropError(Exception):
    """A national service could not be reached or refused us: `summary` is a short msgid for people (translate
    it), `str()` the detail in English (status, error codes; never a key or token)."""

    def __init__(self, detail: str, summary: str, *, error: str | None = None) -> None:
        super().__init__(detail)
        self.summary = summary
        self.error = error  # the provider's or the service's error code (`invalid_client`, `invalid_token`, ...)


class InteropUnavailable(InteropError):  # noqa: N818 - reads as a state, as ProviderUnavailable does
    """Try again later: the provider or the service cannot be reached, answers 5xx, or keeps asking for nonces."""


class InteropRefused(InteropError):  # noqa: N818 - reads as a state
    """Our client or its token was refused; retrying without a change of configuration will not help."""


def _short(text: object) -> str:
    value = " ".join(str(text).split())
    return value if len(value) <= _DETAIL_MAX else value[: _DETAIL_MAX - 1] + "…"


def dpop_challenge(response: httpx.Response) -> str | None:
    """The `error` of a 401's `WWW-Authenticate: DPoP ...` challenge (None when there is none)."""
    for header in response.headers.get_list("www-authenticate"):
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "dpop":
            continue
        for part in params.split(","):
            name, _, value = part.strip().partition("=")
            if name.lower() == "error":
                return value.strip().strip('"')
        return ""
    return None


class MachineClient:
    """HelseID client `client_id` with private key `key` asking for `scopes`, calling one service (`service`
    names it in messages: "VKP", "PMD"). Safe for concurrent use on one event loop."""

    def __init__(
        self, provider: IdentityProvider, client_id: str, key: Key, scopes: Sequence[str], *, service: str
    ) -> None:
        self.provider = provider
        self.client_id = client_id
        self.scopes = tuple(scopes)
        self.service = service
        self._key = key
        self._proof_key = new_proof_key()  # one per client object: the tokens are bound to it
        self._token: str | None = None
        self._renew_at = 0.0
        self._token_nonce: str | None = None
        self._resource_nonces: dict[str, str] = {}
        self._lock = asyncio.Lock()

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client shared with the provider."""
        return self.provider.http

    def __repr__(self) -> str:  # never the key
        return f"MachineClient({self.service}, client_id={self.client_id!r}, issuer={self.provider.issuer!r})"

    async def token(self) -> str:
        """A valid access token: the cached one, or a new one from the token endpoint."""
        if self._token is not None and time.monotonic() < self._renew_at:
            return self._token
        async with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._token, lifetime = await self._fetch_token()
                self._renew_at = time.monotonic() + lifetime - min(RENEW_BEFORE_S, lifetime / 10)
            return self._token

    def forget_token(self, token: str | None = None) -> None:
        """Drop the cached token (only if it is still `token`, when given: another request may have renewed it)."""
        if token is None or token == self._token:
            self._token, self._renew_at = None, 0.0

    async def _token_endpoint(self) -> str:
        try:
            endpoint = await self.provider.endpoint("token_endpoint")
        except ProviderUnavailable as exc:
            raise InteropUnavailable(f"HelseID: {exc}", HELSEID_UNREACHABLE) from None
        assert endpoint is not None  # required by IdentityProvider.metadata
        return endpoint

    async def _fetch_token(self) -> tuple[str, float]:
        endpoint = await self._token_endpoint()
        form = {"grant_type": "client_credentials", "scope": " ".join(self.scopes),
                "client_assertion_type": ASSERTION_TYPE}  # fmt: skip
        nonce = self._token_nonce
        for attempt in range(2):  # the second carries the nonce the provider asked for
            form["client_assertion"] = client_assertion(self._key, self.client_id, endpoint)
            proof = dpop_proof(self._proof_key, "POST", endpoint, nonce=nonce)
            try:
                response = await self.http.post(endpoint, data=form, headers={"DPoP": proof}, timeout=TOKEN_TIMEOUT_S)
            except httpx.HTTPError as exc:
                raise InteropUnavailable(
                    f"HelseID's token endpoint cannot be reached ({type(exc).__name__})", HELSEID_UNREACHABLE
                ) from None
            answer = token_answer(response)
            self._token_nonce = response.headers.get("dpop-nonce") or self._token_nonce
            if response.status_code == 400 and answer.get("error") == "use_dpop_nonce":
                if attempt == 0 and response.headers.get("dpop-nonce"):
                    nonce = self._token_nonce
                    continue
                raise InteropUnavailable(
                    "HelseID's token endpoint kept asking for a new DPoP nonce", NONCE_LOOP, error="use_dpop_nonce"
                )
            return self._accepted(response, answer)
        raise AssertionError("unreachable: the loop returns or raises")

    def _accepted(self, response: httpx.Response, answer: dict[str, Any]) -> tuple[str, float]:
        status = response.status_code
        if status >= 500 or status == 429:
            raise InteropUnavailable(f"HelseID's token endpoint answered {status}", HELSEID_UNREACHABLE)
        if status != 200:
            error = _short(answer.get("error", "no error code"))
            detail = answer.get("error_description")
            reason = f"{error}: {_short(detail)}" if detail else error
            raise InteropRefused(
                f"HelseID refused client {self.client_id} for {self.service} ({status}, {reason})",
                HELSEID_REFUSED,
                error=error,
            )
        token, kind, lifetime = answer.get("access_token"), answer.get("token_type"), answer.get("expires_in")
        if not isinstance(token, str) or not token:
            raise InteropUnavailable("HelseID's token answer holds no access token", HELSEID_UNREACHABLE)
        if not isinstance(kind, str) or kind.lower() != "dpop":
            raise InteropRefused(
                f"HelseID issued a {_short(kind)} token, not a DPoP-bound one; is DPoP enabled?", HELSEID_REFUSED
            )
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = 60  # no usable expires_in: keep it briefly rather than not at all
        return token, float(lifetime)

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
    ) -> httpx.Response:
        """Send one request to the service with the access token and a DPoP proof. Any answer but an
        authentication failure is returned as it is (the caller judges 201, 400 with an OperationOutcome, 503);
        a nonce demand and an `invalid_token` are retried once each."""
        token = await self.token()
        nonce_retried = renewed = False
        for _attempt in range(3):  # at most one nonce retry and one renewal of the token
            response = await self._send(method, url, token, json=json, headers=headers, content=content)
            if response.status_code != 401:
                return response
            error = dpop_challenge(response)
            if error == "use_dpop_nonce":
                if nonce_retried or not response.headers.get("dpop-nonce"):
                    detail = f"{self.service} kept asking for a new DPoP nonce"
                    raise InteropUnavailable(detail, NONCE_LOOP, error="use_dpop_nonce")
                nonce_retried = True
                continue
            if renewed:
                break
            self.forget_token(token)
            token, renewed = await self.token(), True
        reason = dpop_challenge(response) or "401"
        detail = f"{self.service} refused the access token of client {self.client_id} ({_short(reason)})"
        raise InteropRefused(detail, SERVICE_REFUSED, error=reason)

    async def _send(
        self,
        method: str,
        url: str,
        token: str,
        *,
        json: Any,
        headers: Mapping[str, str] | None,
        content: bytes | str | None,
    ) -> httpx.Response:
        origin = httpx.URL(url).copy_with(path="/", query=None, fragment=None)
        proof = dpop_proof(self._proof_key, method, url, nonce=self._resource_nonces.get(str(origin)),
                           access_token=token)  # fmt: skip
        sent = {**(headers or {}), "Authorization": f"DPoP {token}", "DPoP": proof}
        try:
            response = await self.http.request(
                method, url, json=json, content=content, headers=sent, timeout=REQUEST_TIMEOUT_S
            )
        except httpx.HTTPError as exc:
            raise InteropUnavailable(
                f"{self.service} cannot be reached ({type(exc).__name__})", SERVICE_UNREACHABLE
            ) from None
        nonce = response.headers.get("dpop-nonce")
        if nonce:  # RFC 9449 section 9: use the server's newest nonce from now on
            self._resource_nonces[str(origin)] = nonce
        return response
