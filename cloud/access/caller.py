"""Who is calling: the request's credential (a provider's token, one of our API tokens, or a session cookie with
its CSRF token) made into a principal, and refusals worded in the reader's language. The policies
(`cloud.access.policy`) decide what the principal may do."""

from __future__ import annotations

from datetime import timedelta

from fastapi import HTTPException, Request

from cloud.access import authn, provider_tokens
from cloud.access.access_tokens import TokenRefused, looks_like_jwt
from cloud.access.principal import Principal
from cloud.access.provider import ProviderUnavailable
from cloud.access.secrets import same
from cloud.requests import Conn, reader_of
from common.i18n import N_

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
BEARER = {"WWW-Authenticate": "Bearer"}


def refusal(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None, **values: str
) -> HTTPException:
    """An HTTP refusal in the reader's words: `message` and `values` are source texts of the catalogue
    (`values` that are not, such as a header name, are shown as they are)."""
    reader = reader_of(request)
    return HTTPException(status, reader._(message).format(**{k: reader._(v) for k, v in values.items()}), headers)


async def principal_of(request: Request, conn: Conn) -> Principal | None:
    """Authenticate the request, if it carries credentials; enforce CSRF for cookie sessions."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    scheme, token = scheme.lower(), value.strip()
    if scheme == "dpop" or (scheme == "bearer" and looks_like_jwt(token)):
        return await _provider_principal(request, conn, scheme, token)
    if scheme == "bearer":
        if request.app.state.settings.env == "production":
            # HelseID's profile: an API takes DPoP or Bearer from the provider, and a token of our own beside
            # them would be a way around the binding.
            raise refusal(request, 401, N_("In production only the identity provider's tokens are accepted."), BEARER)
        principal = await authn.from_bearer(conn, token)
        if principal is None:
            raise refusal(request, 401, N_("The bearer token is unknown, expired or revoked."), BEARER)
        return principal
    cookie = request.cookies.get(authn.SESSION_COOKIE)
    if not cookie:
        return None
    idle = timedelta(minutes=request.app.state.settings.session_idle_minutes)
    principal = await authn.from_session(conn, cookie, idle)
    if principal is None:
        raise refusal(request, 401, N_("The session has expired or is not valid; sign in again."))
    request.state.principal = principal  # the pages' header shows who is signed in, error pages too
    if request.method in _UNSAFE:
        sent = request.headers.get(authn.CSRF_HEADER, "") or await _csrf_field(request)
        if not sent or principal.csrf_token is None or not same(sent, principal.csrf_token):
            raise refusal(
                request, 403, N_("Missing or wrong {header} header for a cookie session."), header=authn.CSRF_HEADER
            )
    return principal


async def _provider_principal(request: Request, conn: Conn, scheme: str, token: str) -> Principal:
    """A provider's token: every fault is a 401/403 with the scheme's challenge, a provider that cannot be
    reached a 503 (the token may well be valid; the client retries)."""
    trust = provider_tokens.trust_of(request)
    try:
        return await provider_tokens.principal_from(request, conn, scheme, token)
    except TokenRefused as refused:
        raise HTTPException(refused.status, str(refused), provider_tokens.challenge(trust, refused)) from None
    except ProviderUnavailable as down:
        raise HTTPException(503, f"The token cannot be checked now: {down}.", {"Retry-After": "30"}) from None


async def _csrf_field(request: Request) -> str:
    """The session's CSRF token as a plain HTML form sends it (the field `csrf_token`): a form cannot set a
    header, and the pages' forms must work without JavaScript."""
    if request.headers.get("content-type", "").split(";")[0].strip() not in _FORM_TYPES:
        return ""
    sent = (await request.form()).get(authn.CSRF_FIELD)
    return sent if isinstance(sent, str) else ""
