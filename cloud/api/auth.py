"""Sign-in for local accounts (demo mode), sign-out, who am I, and the caller's own API tokens."""

from __future__ import annotations

import math
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from cloud.access import authn, throttle, tokens
from cloud.access.policy import Public, actor, staff_only
from cloud.access.principal import Principal
from cloud.access.secrets import PasswordCheckBusy
from cloud.access.signin import clear_session_cookie, client_address, set_session_cookie, sign_in_service
from cloud.requests import Conn, correlation_id

router = APIRouter(tags=["access"])
Staff = Annotated[Principal, staff_only()]
BUSY_RETRY_S = 2


class Credentials(BaseModel):
    """A local-account sign-in."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class SignedIn(BaseModel):
    """Send `csrf_token` as the X-CSRF-Token header on every changing request of this session."""

    csrf_token: str


class TokenRequest(BaseModel):
    """What the token is for (shown when listing it) and, optionally, how many days it lives."""

    label: str = Field(default="", max_length=200)
    expires_in_days: int | None = Field(
        default=None, ge=1, le=365, description="Lifetime in days; default TRYGGHEIM_TOKEN_DAYS, at most _MAX_DAYS."
    )


# The access layer's token itself, under the schema name the published OpenAPI document has always given it.
class TokenOut(tokens.Token):
    """A token without its secret."""


class NewToken(TokenOut):
    """A new token; `token` is the secret, shown this once."""

    token: str


def token_out(token: tokens.Token) -> TokenOut:
    """The API's view of a token."""
    return TokenOut.model_validate(token, from_attributes=True)


@router.post("/auth/login", dependencies=[Public], responses={401: {}, 404: {}, 429: {}, 503: {}})
async def login(body: Credentials, request: Request, response: Response) -> SignedIn:
    """Sign in with a local account; sets an HTTP-only session cookie. Repeated failures from one client
    make that client wait, longer each time (429 with Retry-After); other clients are not held back."""
    settings = request.app.state.settings
    if settings.auth_mode != "local":
        raise HTTPException(404, "Local accounts are disabled; sign in through HelseID.")
    sign_in = sign_in_service(request)
    try:
        result = await authn.login(
            sign_in, body.username, body.password, client_address(request), correlation_id(request)
        )
    except throttle.Throttled as exc:
        seconds = math.ceil(exc.retry_after.total_seconds())
        wait = f"{seconds} seconds" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"
        raise HTTPException(
            429, f"Too many failed sign-ins from here; try again in {wait}.", {"Retry-After": str(seconds)}
        ) from None
    except PasswordCheckBusy:
        raise HTTPException(
            503, "Too many sign-ins at once; try again in a moment.", {"Retry-After": str(BUSY_RETRY_S)}
        ) from None
    if result is None:
        raise HTTPException(401, "Wrong user name or password.")
    cookie, csrf, _audience = result
    set_session_cookie(request, response, cookie)
    return SignedIn(csrf_token=csrf)


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, response: Response, conn: Conn, principal: Staff) -> None:
    """End this session and its live event streams. API tokens stay valid until they expire or are revoked
    (they are meant for scripts); list them at GET /api/v1/tokens."""
    cookie = request.cookies.get(authn.SESSION_COOKIE)
    if cookie:
        await authn.logout(conn, cookie)
    clear_session_cookie(response)


@router.get("/api/v1/me")
async def me(principal: Staff) -> dict[str, Any]:
    """The signed-in staff member."""
    return {
        "id": str(principal.id),
        "username": principal.username,
        "role": principal.role,
        "municipality_id": str(principal.municipality_id),
        "team_ids": sorted(str(t) for t in principal.team_ids),
    }


@router.post("/api/v1/tokens", status_code=201, responses={403: {}, 422: {}})
async def create_token(body: TokenRequest, request: Request, conn: Conn, principal: Staff) -> NewToken:
    """A bearer token for the API (default 30 days); the secret is shown once. Only a signed-in session may
    create one: a token that could mint its successor would survive its own revocation."""
    if principal.credential is None or principal.credential.kind != "session":
        raise HTTPException(403, "Create API tokens from a signed-in session, not with another token.")
    if request.app.state.settings.env == "production":
        raise HTTPException(403, "In production, API clients use the identity provider's tokens (HelseID).")
    try:
        lifetime = tokens.Lifetimes.from_settings(request.app.state.settings).choose(body.expires_in_days)
    except tokens.TokenError as exc:
        raise HTTPException(422, str(exc)) from None
    token, secret = await tokens.issue(
        conn, actor(request, principal), staff_id=principal.id, municipality_id=principal.municipality_id,
        label=body.label, lifetime=lifetime,
    )  # fmt: skip
    return NewToken(**token_out(token).model_dump(), token=secret)


@router.get("/api/v1/tokens")
async def list_tokens(conn: Conn, principal: Staff) -> list[TokenOut]:
    """The caller's own tokens, newest first, active or not."""
    return [token_out(t) for t in await tokens.list_tokens(conn, principal.id)]


@router.delete("/api/v1/tokens/{token_id}", status_code=204, responses={404: {}})
async def revoke_token(token_id: UUID, request: Request, conn: Conn, principal: Staff) -> Response:
    """Revoke one of the caller's tokens: it fails at once, and its open event streams end."""
    revoked = await tokens.revoke(
        conn, actor(request, principal), staff_id=principal.id, municipality_id=principal.municipality_id,
        token_id=token_id, by=principal.id,
    )  # fmt: skip
    if not revoked:
        raise HTTPException(404, "You have no such token.")
    return Response(status_code=204)
