"""Access tokens from an identity provider, checked as HelseID asks of an API ("Validating Access Tokens",
HelseID security profile; RFC 9068 for the JWT access-token profile):

1. the signature verifies with a key the issuer publishes, by an asymmetric algorithm (never `none`, never a
   shared-secret algorithm that would take a public key as the secret);
2. `typ` is `at+jwt` or `JWT`;
3. `iss` is exactly the configured issuer;
4. `aud` is exactly our one audience (a token for two audiences is refused);
5. `exp` (required) and `nbf` hold with at most a few seconds of skew;
6. the required scope is granted.

The JOSE work is joserfc's; this module decides what to ask of it and turns every fault into one refusal
with a status and a reason a client developer can act on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError

from cloud.access.provider import IdentityProvider

SKEW_S = 5
SIGNING_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "jwt", "application/at+jwt"})
MAX_TOKEN_BYTES = 16 * 1024  # far above any real token; a larger header value is refused unread


class TokenRefused(Exception):  # noqa: N818 - reads as an outcome
    """A credential that may not be used: `status` 401 (not valid) or 403 (valid, not enough), `error` the
    RFC 6750 error code, the message the reason."""

    def __init__(self, message: str, *, status: int = 401, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.status = status
        self.error = error


@dataclass(frozen=True)
class TokenRules:
    """What a deployment demands of the tokens one provider issues for it."""

    audience: str
    scope: str  # the scope every call needs (HelseID: `<audience>/<name>`)


def looks_like_jwt(token: str) -> bool:
    """Whether a credential has the shape of a compact JWS (local API tokens are opaque, without dots)."""
    return token.count(".") == 2


def header_of(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS, unverified (to choose the key and check `alg`/`typ` first)."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRefused("The token is too large.")
    try:
        return dict(jws.extract_compact(token.encode()).protected)
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise TokenRefused("The token is not a well-formed JWT.") from None


async def validate(token: str, provider: IdentityProvider, rules: TokenRules) -> dict[str, Any]:
    """The claims of a valid access token; raises `TokenRefused` for every fault and
    `provider.ProviderUnavailable` when the issuer's keys cannot be had."""
    header = header_of(token)
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm.lower() == "none":
        raise TokenRefused("The token is not signed (alg none).")
    if algorithm not in SIGNING_ALGORITHMS:
        raise TokenRefused(f"The token's algorithm {algorithm!r} is not accepted; an asymmetric one is required.")
    kind = header.get("typ")
    if not isinstance(kind, str) or kind.lower() not in ACCESS_TOKEN_TYPES:
        raise TokenRefused(f"The token's type {kind!r} is not an access token (at+jwt or JWT).")
    kid = header.get("kid")
    keys = await provider.keys(kid if isinstance(kid, str) else None)
    try:
        claims = jwt.decode(token, keys, algorithms=[algorithm]).claims
    except InvalidKeyIdError:
        raise TokenRefused("The token is signed with a key the issuer does not publish.") from None
    except BadSignatureError:
        raise TokenRefused("The token's signature does not verify.") from None
    except (JoseError, ValueError, TypeError):
        raise TokenRefused("The token cannot be verified.") from None
    check_claims(claims, issuer=provider.issuer, audience=rules.audience)
    if rules.scope not in scopes_of(claims):
        raise TokenRefused(f"The token lacks the scope {rules.scope}.", status=403, error="insufficient_scope")
    return claims


def check_claims(claims: dict[str, Any], *, issuer: str, audience: str, now: float | None = None) -> None:
    """Issuer, single audience and validity times of a verified token (ID tokens share these rules)."""
    if claims.get("iss") != issuer:
        raise TokenRefused("The token's issuer is not the one this service trusts.")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audiences != [audience]:
        raise TokenRefused(f"The token's audience must be exactly {audience!r}.")
    moment = time.time() if now is None else now
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise TokenRefused("The token has no expiry (exp).")
    if expires + SKEW_S < moment:
        raise TokenRefused("The token has expired.")
    not_before = claims.get("nbf")
    if not_before is not None and (not isinstance(not_before, int | float) or not_before - SKEW_S > moment):
        raise TokenRefused("The token is not valid yet (nbf).")


def scopes_of(claims: dict[str, Any]) -> set[str]:
    """The granted scopes, whether sent as one space-separated string or as a list."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return set(scope.split())
    if isinstance(scope, list):
        return {item for item in scope if isinstance(item, str)}
    return set()
