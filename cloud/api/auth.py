"""Sign-in for local accounts (demo mode), sign-out, API tokens, and who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from cloud.access import authn
from cloud.access.policy import Public, staff_only
from cloud.access.principal import Principal
from cloud.api.deps import Conn

router = APIRouter(tags=["access"])
Staff = Annotated[Principal, staff_only()]


class Credentials(BaseModel):
    """A local-account sign-in."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class SignedIn(BaseModel):
    """Send `csrf_token` as the X-CSRF-Token header on every changing request of this session."""

    csrf_token: str


class TokenRequest(BaseModel):
    """What the token is for (shown when listing or revoking it)."""

    label: str = Field(default="", max_length=200)


@router.post("/auth/login", dependencies=[Public], responses={401: {}, 404: {}, 429: {}})
async def login(body: Credentials, request: Request, response: Response, conn: Conn) -> SignedIn:
    """Sign in with a local account; sets an HTTP-only session cookie."""
    if request.app.state.settings.auth_mode != "local":
        raise HTTPException(404, "Local accounts are disabled; sign in through HelseID.")
    client = request.client.host if request.client else "unknown"
    try:
        result = await authn.login(conn, body.username, body.password, client)
    except authn.LoginThrottled:
        raise HTTPException(429, "Too many failed sign-ins; wait 15 minutes and try again.") from None
    if result is None:
        raise HTTPException(401, "Wrong user name or password.")
    cookie, csrf = result
    response.set_cookie(
        authn.SESSION_COOKIE,
        cookie,
        max_age=int(authn.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        secure=request.app.state.settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    return SignedIn(csrf_token=csrf)


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, response: Response, conn: Conn, principal: Staff) -> None:
    """End this session."""
    cookie = request.cookies.get(authn.SESSION_COOKIE)
    if cookie:
        await authn.logout(conn, cookie)
    response.delete_cookie(authn.SESSION_COOKIE, path="/")


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


@router.post("/api/v1/tokens", status_code=201)
async def create_token(body: TokenRequest, conn: Conn, principal: Staff) -> dict[str, str]:
    """A bearer token for the API, valid 90 days; shown once."""
    return {"token": await authn.issue_token(conn, principal.id, body.label)}
