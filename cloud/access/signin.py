"""What every way of signing in through a browser shares: the process's password threads, the sign-in service
built from the application's settings, and the session cookie's attributes. The JSON route
(`POST /auth/login`) and the web form (`POST /signin`) both use these, so both are throttled alike and set the
same cookie; an OIDC login will set the same cookie from `authn.open_session`.
"""

from __future__ import annotations

from fastapi import Request, Response

from cloud.access import authn, throttle
from cloud.access.secrets import PasswordPool


def password_pool(request: Request) -> PasswordPool:
    """The process's password threads (one pool per application, made on first use)."""
    state = request.app.state
    if getattr(state, "passwords", None) is None:
        state.passwords = PasswordPool(state.settings.login_hash_threads, state.settings.login_hash_queue)
    pool: PasswordPool = state.passwords
    return pool


def sign_in_service(request: Request) -> authn.SignIn:
    """The local-account sign-in with the application's pool, password threads and throttle rules."""
    settings = request.app.state.settings
    return authn.SignIn(request.app.state.pool, password_pool(request), throttle.ThrottleRules.from_settings(settings))


def client_address(request: Request) -> str:
    """The address the throttle counts failures against (as uvicorn resolved it from trusted proxies)."""
    return request.client.host if request.client else "unknown"


def set_session_cookie(request: Request, response: Response, cookie: str) -> None:
    """The session cookie: HTTP-only, SameSite=Strict, for the whole site, as long as the session."""
    response.set_cookie(
        authn.SESSION_COOKIE,
        cookie,
        max_age=int(authn.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        secure=request.app.state.settings.cookie_secure,
        samesite="strict",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(authn.SESSION_COOKIE, path="/")
