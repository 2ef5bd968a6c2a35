"""How Tryggheim authenticates itself as an OAuth client: `private_key_jwt` client assertions (RFC 7523 section 3)
and DPoP proofs (RFC 9449 section 4.2), shared by the browser sign-in and the HelseID machine client.

HelseID's client rules: the assertion's `iss` and `sub` are the client id, `aud` the token endpoint, a fresh
`jti` each time and a life of at most 60 s (we use 30 s); a DPoP proof carries the public key in its header, the
method and address without query or fragment, a fresh `jti` and `iat`, the server's nonce when it asked for one,
and `ath`, the hash of the access token, when it goes to a resource server (HelseID security profile, "DPoP").
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, Key, RSAKey

from cloud.access.dpop import access_token_hash, request_uri

ASSERTION_LIFETIME_S = 30  # HelseID: at most 60 s
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def load_key(text: str) -> Key:
    """A private key from a JWK (JSON) or a PEM text (EC or RSA). Its `kid`, when the JWK has one, goes into
    each client assertion's header (the provider finds the key by it among the client's registered keys)."""
    stripped = text.strip()
    key: Key | None = None
    try:
        if stripped.startswith("{"):
            key = JWKRegistry.import_key(json.loads(stripped))
        else:
            for kind in (ECKey, RSAKey):
                try:
                    key = kind.import_key(stripped)
                    break
                except (JoseError, ValueError, TypeError):
                    continue
    except (JoseError, ValueError, TypeError):
        key = None
    if key is None:
        raise ValueError("the client key is neither a private JWK nor a PEM EC/RSA key")
    if not key.is_private:
        raise ValueError("the client key is a public key; private_key_jwt needs the private one")
    return key


def _algorithm(key: Key) -> str:
    if isinstance(key, ECKey):
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(str(key.curve_name), "ES256")
    return "RS256"


def client_assertion(key: Key, client_id: str, token_endpoint: str) -> str:
    """A signed client assertion for one request to `token_endpoint` (never reuse it: its `jti` is single-use)."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "jti": secrets.token_urlsafe(24),
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_S,
    }
    header = {"alg": _algorithm(key), "typ": "JWT"}
    if key.kid:
        header["kid"] = key.kid
    return jwt.encode(header, claims, key, algorithms=[header["alg"]])


def new_proof_key() -> ECKey:
    """A fresh P-256 key for DPoP proofs (HelseID accepts ES256)."""
    return ECKey.generate_key("P-256")


def dpop_proof(key: ECKey, method: str, url: str, *, nonce: str | None = None, access_token: str | None = None) -> str:
    """A DPoP proof for one request: `htu` is `url` without query and fragment; with `access_token` it carries
    `ath` (resource requests), with `nonce` the server's nonce."""
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(24),
        "htm": method.upper(),
        "htu": request_uri(url),
        "iat": int(time.time()),
    }
    if nonce:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def token_answer(response: httpx.Response) -> dict[str, Any]:
    """A token endpoint's JSON object ({} when the body is not one: the status then says what happened)."""
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
