"""Signing in and out through the pages, and the language switch.

The sign-in form is a plain form post (it works without JavaScript) to `POST /signin`, which uses the same
local-account service, throttle and session cookie as `POST /auth/login` (`cloud.access.signin`); the CSRF
token of the new session is read from the session by every page that shows a form. Where local accounts are
on (never in production), a citizen's local account signs in here too, to their own page or a relative's. A
login from another site's form is refused by its Origin (login CSRF: it would sign a nurse into someone else's
account). Signing in through HelseID, and signing out, are in `cloud.web.provider_sign_in`.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from babel.dates import format_timedelta
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from alerts.wording.formats import LOCALES
from cloud.access import authn, throttle
from cloud.access.policy import Public
from cloud.access.secrets import PasswordCheckBusy
from cloud.access.signin import client_address, set_session_cookie, sign_in_service
from cloud.requests import correlation_id
from cloud.web.navigation import CITIZEN_HOMES, PAGES_TAG, SIGN_IN, after_sign_in, local_path, see_other
from cloud.web.templating import gettext_of, language_of, render
from common.i18n import LANGUAGE_COOKIE, LANGUAGES

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
Field = Annotated[str, Form()]
LANGUAGE_COOKIE_DAYS = 365


def _sign_in_page(
    request: Request, *, next_page: str, status: int = 200, username: str = "", message: str = "", field: str = ""
) -> Response:
    context = {
        "next_page": local_path(next_page), "username": username, "message": message, "field": field,
        "error": status >= 400, "local_accounts": request.app.state.settings.auth_mode == "local",
        "provider": request.app.state.settings.oidc_issuer is not None,
    }  # fmt: skip
    return render(request, "signin.html", context, status=status)


@router.get(SIGN_IN, dependencies=[Public])
async def sign_in_form(request: Request, next: str = "/", signed_out: bool = False) -> Response:
    """The sign-in page; `next` is where it returns to (a path of this service)."""
    _ = gettext_of(request)
    message = _("You are signed out.") if signed_out else ""
    return _sign_in_page(request, next_page=next, message=message)


def _same_origin(request: Request) -> bool:
    """Whether the form was posted from a page of this service. Browsers say so in Sec-Fetch-Site; an older one
    sends Origin, which is `null` under the service's `Referrer-Policy: no-referrer` and then proves nothing."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in {"same-origin", "none"}
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


def _wait_text(request: Request, seconds: int) -> str:
    wait = format_timedelta(timedelta(seconds=seconds), threshold=1.5, locale=LOCALES[language_of(request)])
    _ = gettext_of(request)
    return _("Too many failed sign-ins from here; try again in {wait}.").format(wait=wait)


@router.post(SIGN_IN, dependencies=[Public])
async def sign_in(request: Request, username: Field = "", password: Field = "", next: Field = "/") -> Response:
    """Check the password; on success set the session cookie and return to `next`."""
    _ = gettext_of(request)
    if request.app.state.settings.auth_mode != "local":
        return _sign_in_page(request, next_page=next, status=404, message=_("Local accounts are disabled."))
    if not _same_origin(request):
        return _sign_in_page(request, next_page=next, status=403, message=_("Sign in from this service's own page."))
    if not username.strip() or not password:
        field = "username" if not username.strip() else "password"
        message = _("Enter your user name.") if field == "username" else _("Enter your password.")
        return _sign_in_page(request, next_page=next, status=422, username=username, message=message, field=field)
    try:
        result = await authn.login(
            sign_in_service(request),
            username,
            password,
            client_address(request),
            correlation_id(request),
            citizens=True,
        )
    except throttle.Throttled as exc:
        seconds = math.ceil(exc.retry_after.total_seconds())
        page = _sign_in_page(
            request, next_page=next, status=429, username=username, message=_wait_text(request, seconds)
        )
        page.headers["Retry-After"] = str(seconds)
        return page
    except PasswordCheckBusy:
        busy = _("Too many sign-ins at once; try again in a moment.")
        return _sign_in_page(request, next_page=next, status=503, username=username, message=busy)
    if result is None:
        wrong = _("Wrong user name or password.")
        return _sign_in_page(request, next_page=next, status=401, username=username, message=wrong, field="password")
    response = see_other(after_sign_in(next) if result[2] == "staff" else CITIZEN_HOMES[result[2]])
    set_session_cookie(request, response, result[0])
    return response


@router.post("/language", dependencies=[Public])
async def choose_language(request: Request, language: Field = "", next: Field = "/") -> Response:
    """Remember the chosen language (a cookie) and return to the page."""
    response = see_other(next)
    if language in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE, language, max_age=LANGUAGE_COOKIE_DAYS * 86400, httponly=True, samesite="lax", path="/",
            secure=request.app.state.settings.cookie_secure,
        )  # fmt: skip
    return response
