"""A browser sign-in through an identity provider: OpenID Connect authorization code flow with PKCE (S256),
`state` and `nonce` (OpenID Connect Core 1.0 section 3.1; RFC 7636).

What the flow needs between the two legs (state, nonce, PKCE verifier, where to return) is kept server-side in
`oidc_logins` and deleted by the callback that uses it, so a replayed callback or a forged `state` finds
nothing. We authenticate to the provider with `private_key_jwt` (a signed client assertion, RFC 7523; the only
method HelseID allows) and send a DPoP proof from a key made for this one exchange, with the nonce retry
HelseID's token endpoint asks for. The ID token is checked like an access token (signature by a published key,
exact issuer, our client id as the one audience, expiry) and its `nonce` must be the one we sent.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from cloud.access import access_tokens
from cloud.access.access_tokens import SIGNING_ALGORITHMS, TokenRefused
from cloud.access.authn import CITIZEN_HIGH_ACR
from cloud.access.client_auth import (
    ASSERTION_TYPE,
    client_assertion,
    dpop_proof,
    load_key,
    new_proof_key,
    token_answer,
)
from cloud.access.federation import CITIZEN_SCOPES, STAFF_SCOPES
from cloud.access.provider import FETCH_TIMEOUT_S, IdentityProvider, ProviderUnavailable
from cloud.config import CloudSettings

Audience = Literal["staff", "citizen"]
LOGIN_TTL = timedelta(minutes=10)  # time a person has at the provider before the callback


class SignInError(Exception):
    """A callback that cannot complete the sign-in; the message is for the person and the log (no secret)."""


@dataclass(frozen=True)
class Client:
    """Our client at one provider."""

    audience: Audience
    provider: IdentityProvider
    client_id: str
    key: Key  # private key for private_key_jwt; its `kid` is what the provider knows it by
    scopes: tuple[str, ...]


def _digest(state: str) -> bytes:
    return hashlib.sha256(state.encode()).digest()


async def start(conn: AsyncConnection[Any], client: Client, redirect_uri: str, return_to: str) -> str:
    """The provider's authorization address for a new sign-in that comes back to `redirect_uri`."""
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    await conn.execute(
        "INSERT INTO oidc_logins (state_hash, audience, nonce, code_verifier, return_to, expires_at) "
        "VALUES (%s, %s, %s, %s, %s, now() + %s)",
        (_digest(state), client.audience, nonce, verifier, return_to, LOGIN_TTL),
    )
    # Logins abandoned at the provider are cleared by later ones; the table holds only minutes of them.
    await conn.execute("DELETE FROM oidc_logins WHERE expires_at < now()")
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(client.scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if client.audience == "citizen":  # ask for the level health data needs (ID-porten: BankID and peers)
        query["acr_values"] = CITIZEN_HIGH_ACR
    authorize = await client.provider.endpoint("authorization_endpoint")
    assert authorize is not None  # required by IdentityProvider.metadata
    return f"{authorize}?{urlencode(query)}"


@dataclass(frozen=True)
class SignedIn:
    """What a finished sign-in established."""

    claims: dict[str, Any]  # of the verified ID token
    id_token: str
    return_to: str


async def finish(conn: AsyncConnection[Any], client: Client, redirect_uri: str, *, code: str, state: str) -> SignedIn:
    """Redeem the authorization `code` of the sign-in that `state` names (once) and verify the ID token."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "DELETE FROM oidc_logins WHERE state_hash = %s AND audience = %s "
        "RETURNING nonce, code_verifier, return_to, expires_at > now() AS live",
        (_digest(state), client.audience),
    )
    login = await cur.fetchone()
    if login is None:
        raise SignInError("This sign-in is unknown or has already been used; start again.")
    if not login["live"]:
        raise SignInError("This sign-in took too long; start again.")
    answer = await _redeem(client, redirect_uri, code, login["code_verifier"])
    id_token = answer.get("id_token")
    if not isinstance(id_token, str):
        raise SignInError("The provider's answer holds no ID token.")
    claims = await verify_id_token(client, id_token)
    if claims.get("nonce") != login["nonce"]:
        raise SignInError("The ID token's nonce is not the one this sign-in sent.")
    return SignedIn(claims, id_token, login["return_to"])


async def verify_id_token(client: Client, id_token: str) -> dict[str, Any]:
    """The claims of an ID token signed by the provider for us."""
    try:
        header = access_tokens.header_of(id_token)
        algorithm = header.get("alg")
        if algorithm not in SIGNING_ALGORITHMS:
            raise TokenRefused("The ID token is not signed with an accepted algorithm.")
        kid = header.get("kid")
        keys = await client.provider.keys(kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(id_token, keys, algorithms=[str(algorithm)]).claims
        except (JoseError, ValueError, TypeError):
            raise TokenRefused("The ID token's signature does not verify.") from None
        access_tokens.check_claims(claims, issuer=client.provider.issuer, audience=client.client_id)
    except TokenRefused as refused:
        raise SignInError(str(refused)) from None
    return claims


async def _redeem(client: Client, redirect_uri: str, code: str, verifier: str) -> dict[str, Any]:
    endpoint = await client.provider.endpoint("token_endpoint")
    assert endpoint is not None
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": client.client_id,
        "client_assertion_type": ASSERTION_TYPE,
    }
    proof_key = new_proof_key()
    nonce: str | None = None
    for _attempt in range(2):  # the second carries the nonce the provider asked for
        form["client_assertion"] = client_assertion(client.key, client.client_id, endpoint)
        proof = dpop_proof(proof_key, "POST", endpoint, nonce=nonce)
        try:
            response = await client.provider.http.post(
                endpoint, data=form, headers={"DPoP": proof}, timeout=FETCH_TIMEOUT_S
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"the provider's token endpoint cannot be reached ({type(exc).__name__})"
            ) from None
        answer = token_answer(response)
        if response.status_code == 400 and answer.get("error") == "use_dpop_nonce" and nonce is None:
            nonce = response.headers.get("dpop-nonce")
            if nonce:
                continue
        if response.status_code != 200:
            raise SignInError(f"The provider refused the sign-in ({answer.get('error', response.status_code)}).")
        return answer
    raise SignInError("The provider kept asking for a new DPoP nonce.")


async def end_session_url(client: Client, id_token: str | None, after: str) -> str | None:
    """Where the browser goes to end the provider's session too (RP-initiated logout), or None when the
    provider offers no end-session endpoint (or cannot be reached: our own session has ended anyway)."""
    try:
        endpoint = await client.provider.endpoint("end_session_endpoint")
    except ProviderUnavailable:
        return None
    if endpoint is None:
        return None
    query = {"client_id": client.client_id, "post_logout_redirect_uri": after}
    if id_token:
        query["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(query)}"


def client_of(settings: CloudSettings, provider: IdentityProvider | None, audience: Audience) -> Client | None:
    """Our client at the staff or citizens' provider as `settings` configure it (None: not configured)."""
    client_id = settings.oidc_client_id if audience == "staff" else settings.citizen_client_id
    key = settings.client_key(audience)
    if provider is None or not client_id or key is None:
        return None
    scopes = STAFF_SCOPES if audience == "staff" else CITIZEN_SCOPES
    return Client(audience, provider, client_id, load_key(key), scopes)
