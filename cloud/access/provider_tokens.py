"""A request carrying an identity provider's access token: which provider issued it, whether it is valid
(`access_tokens`), whether it is presented as the deployment demands (`token_binding`: DPoP with a proof, or
Bearer, never both), and whom it speaks for (`federation`).

HelseID deployments run with `dpop_required`: a token must come as `Authorization: DPoP <token>` with a `DPoP`
proof header, and a DPoP-bound token (one with `cnf.jkt`) presented as Bearer is refused in every mode, since
anyone who copied it could otherwise use it (RFC 9449 section 7.1; HelseID security profile).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request
from joserfc import jws
from joserfc.errors import JoseError
from psycopg import AsyncConnection

from cloud.access import access_tokens, dpop, federation
from cloud.access.access_tokens import TokenRefused, TokenRules
from cloud.access.principal import Credential, Principal
from cloud.access.provider import IdentityProvider
from cloud.access.secrets import token_digest
from cloud.config import CloudSettings

DPOP_ALGORITHMS = "ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512"


@dataclass
class Trust:
    """The identity providers a process trusts and what it demands of their tokens."""

    staff: IdentityProvider | None
    citizen: IdentityProvider | None
    staff_rules: TokenRules
    citizen_rules: TokenRules
    binding: str
    nonce_key: bytes | None = None  # read from the database on first use

    @classmethod
    def from_settings(cls, settings: CloudSettings, http: httpx.AsyncClient) -> Trust:
        """The providers `settings` name, sharing one HTTP client."""
        return cls(
            staff=IdentityProvider(settings.oidc_issuer, http) if settings.oidc_issuer else None,
            citizen=IdentityProvider(settings.citizen_issuer, http) if settings.citizen_issuer else None,
            staff_rules=TokenRules(settings.oidc_audience, settings.oidc_scope),
            citizen_rules=TokenRules(settings.citizen_audience, settings.citizen_scope),
            binding=settings.token_binding,
        )

    @property
    def scheme(self) -> str:
        """The authentication scheme this deployment's refusals ask for."""
        return "DPoP" if self.binding == "dpop_required" else "Bearer"


def trust_of(request: Request) -> Trust:
    """The process's trusted providers (made with the application)."""
    trust: Trust = request.app.state.trust
    return trust


def challenge(trust: Trust, refused: TokenRefused) -> dict[str, str]:
    """The headers of a refusal: `WWW-Authenticate` with the RFC 6750/9449 error code, and a fresh nonce when
    the proof needs one."""
    value = f'{trust.scheme} error="{refused.error}"'
    if trust.scheme == "DPoP":
        value += f', algs="{DPOP_ALGORITHMS}"'
    headers = {"WWW-Authenticate": value}
    if isinstance(refused, dpop.NonceNeeded):
        headers["DPoP-Nonce"] = refused.nonce
    return headers


def _unverified_issuer(token: str) -> object:
    try:
        return json.loads(jws.extract_compact(token.encode()).payload).get("iss")
    except (JoseError, ValueError, TypeError, AttributeError, UnicodeError):
        raise TokenRefused("The token is not a well-formed JWT.") from None


async def principal_from(request: Request, conn: AsyncConnection[Any], scheme: str, token: str) -> Principal:
    """The principal behind a provider's token presented with `scheme` (`bearer` or `dpop`); raises
    `TokenRefused`, or `provider.ProviderUnavailable` when the issuer's keys cannot be had."""
    trust = trust_of(request)
    access_tokens.header_of(token)  # size and shape before anything else is read
    issuer = _unverified_issuer(token)
    if trust.staff is not None and issuer == trust.staff.issuer:
        provider, rules, mapper = trust.staff, trust.staff_rules, federation.staff_for
    elif trust.citizen is not None and issuer == trust.citizen.issuer:
        provider, rules, mapper = trust.citizen, trust.citizen_rules, federation.citizen_for
    else:
        raise TokenRefused("The token's issuer is not one this service trusts.")
    claims = await access_tokens.validate(token, provider, rules)
    await _check_binding(request, conn, trust, scheme, token, claims)
    credential = Credential("provider_token", token_digest(token), expires_at=float(claims["exp"]))
    return await mapper(conn, claims, credential)


async def _check_binding(
    request: Request, conn: AsyncConnection[Any], trust: Trust, scheme: str, token: str, claims: dict[str, Any]
) -> None:
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if scheme == "bearer":
        if jkt is not None:
            raise TokenRefused("A DPoP-bound token must be sent as Authorization: DPoP with a DPoP proof.")
        if trust.binding == "dpop_required":
            raise TokenRefused("This service accepts provider tokens only as DPoP-bound tokens (Authorization: DPoP).")
        return
    if trust.binding != "dpop_required":
        raise TokenRefused("This service accepts provider tokens as Bearer tokens only.")
    if not isinstance(jkt, str):
        raise TokenRefused("The token is not bound to a key (no cnf.jkt); DPoP needs a bound token.")
    proofs = request.headers.getlist("dpop")
    if len(proofs) != 1:
        raise TokenRefused("Exactly one DPoP proof header is required.", error=dpop.INVALID_PROOF)
    if trust.nonce_key is None:
        trust.nonce_key = await dpop.nonce_key(conn)
    proof = dpop.check_proof(
        proofs[0], method=request.method, url=str(request.url), access_token=token, jkt=jkt, nonce_key=trust.nonce_key
    )
    if not await dpop.first_use(conn, jkt, proof["jti"]):
        raise TokenRefused("The DPoP proof has been used before (replayed jti).", error=dpop.INVALID_PROOF)
