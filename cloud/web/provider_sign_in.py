"""Signing in through an identity provider from the pages: staff through HelseID (`/signin/helseid`),
citizens through ID-porten (`/citizen/signin`), each returning to its callback, which opens the same kind of
session a local password opens; and signing out, which also ends the provider's session.

Every failure is a page that says what happened (the provider refused, the sign-in was replayed or took too
long, the person has no account here, the provider cannot be reached), never a 500. Sign-ins are audited with
what the provider vouched for (security level or `acr`, HPR number, our client id).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cloud.access import audit, authn, directory, federation
from cloud.access.access_tokens import TokenRefused
from cloud.access.caller import principal_of
from cloud.access.oidc_sign_in import Audience, Client, SignInError, client_of, end_session_url, finish, start
from cloud.access.policy import Public, staff_only
from cloud.access.principal import Credential, Principal
from cloud.access.provider import ProviderUnavailable
from cloud.access.provider_tokens import trust_of
from cloud.access.secrets import token_digest
from cloud.access.signin import clear_session_cookie, set_session_cookie
from cloud.requests import Conn, correlation_id
from cloud.web.navigation import CITIZEN_HOMES, PAGES_TAG, SIGN_IN, after_sign_in, local_path, see_other
from cloud.web.templating import gettext_of, render

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
CALLBACKS: dict[Audience, str] = {"staff": "/signin/helseid/callback", "citizen": "/citizen/signin/callback"}
CITIZEN_HOME = "/me"


def client(request: Request, audience: Audience) -> Client | None:
    """Our configured client at the staff or citizens' provider (made once per process)."""
    state = request.app.state
    clients: dict[Audience, Client | None] = getattr(state, "oidc_clients", None) or {}
    if audience not in clients:
        trust = trust_of(request)
        provider = trust.staff if audience == "staff" else trust.citizen
        clients[audience] = client_of(state.settings, provider, audience)
        state.oidc_clients = clients
    return clients[audience]


def _redirect_uri(request: Request, audience: Audience) -> str:
    public: str = request.app.state.settings.public_url
    return public.rstrip("/") + CALLBACKS[audience]


def _failed(request: Request, status: int, message: str) -> Response:
    settings = request.app.state.settings
    context = {
        "next_page": "/", "username": "", "message": message, "field": "", "error": True,
        "local_accounts": settings.auth_mode == "local", "provider": settings.oidc_issuer is not None,
    }  # fmt: skip
    return render(request, "signin.html", context, status=status)


async def _begin(request: Request, conn: Conn, audience: Audience, next_page: str) -> Response:
    _ = gettext_of(request)
    ours = client(request, audience)
    if ours is None:
        return _failed(request, 404, _("Sign-in through an identity provider is not set up here."))
    try:
        address = await start(conn, ours, _redirect_uri(request, audience), local_path(next_page))
    except ProviderUnavailable:
        return _failed(request, 503, _("The identity provider cannot be reached; try again in a few minutes."))
    return RedirectResponse(address, status_code=303)


@router.get("/signin/helseid", dependencies=[Public])
async def staff_sign_in(request: Request, conn: Conn, next: str = "/") -> Response:
    """Send a staff member to HelseID; they come back to the callback."""
    return await _begin(request, conn, "staff", next)


@router.get("/citizen/signin", dependencies=[Public])
async def citizen_sign_in(request: Request, conn: Conn) -> Response:
    """Send a citizen to ID-porten; they come back to the callback."""
    return await _begin(request, conn, "citizen", CITIZEN_HOME)


async def _signed_in(request: Request, conn: Conn, audience: Audience, code: str, state: str, error: str) -> Response:
    _ = gettext_of(request)
    ours = client(request, audience)
    if ours is None:
        return _failed(request, 404, _("Sign-in through an identity provider is not set up here."))
    if error or not code or not state:
        return _failed(request, 400, _("The identity provider did not sign you in; try again."))
    try:
        done = await finish(conn, ours, _redirect_uri(request, audience), code=code, state=state)
        probe = Credential("session", token_digest(state))  # only to name the principal; the session is new
        mapper = federation.staff_for if audience == "staff" else federation.citizen_for
        principal = await mapper(conn, done.claims, probe)
    except SignInError as failed:
        log.warning("sign-in through %s failed: %s", audience, failed)
        return _failed(request, 400, _("This sign-in could not be completed (it was used already, took too long, "
                                       "or the provider's answer was not valid); start again."))  # fmt: skip
    except ProviderUnavailable:
        return _failed(request, 503, _("The identity provider cannot be reached; try again in a few minutes."))
    except TokenRefused:
        message = (
            _("You have no account in Tryggheim. Ask your municipality's administrator to add you.")
            if audience == "staff"
            else _("We have no record of you as a patient here.")
        )
        return _failed(request, 403, message)
    vouched = (
        f"security_level={done.claims.get(federation.HELSEID_SECURITY_LEVEL)} "
        f"hpr={done.claims.get(federation.HELSEID_HPR, '-')}"
        if audience == "staff"
        else f"acr={done.claims.get('acr')}"
    )
    async with conn.transaction():
        if audience == "staff":
            await directory.record_hpr_number(conn, principal.id, done.claims.get(federation.HELSEID_HPR))
            cookie, _csrf = await authn.open_session(
                conn, principal.id, origin="oidc", id_token=done.id_token, patient_data=principal.patient_data
            )
        else:
            cookie, _csrf = await authn.open_citizen_session(
                conn, principal.id if principal.kind == "patient" else None, acr=str(done.claims.get("acr")),
                id_token=done.id_token, national_id=federation.person_of(done.claims, "pid"),
            )  # fmt: skip
        record = audit.AuditRecord(
            municipality_id=principal.municipality_id, principal_kind=principal.kind, principal_id=str(principal.id),
            role=str(principal.role), action="sign_in", resource=f"session via {principal.origin} {vouched} "
            f"client={ours.client_id}", outcome="allowed", correlation_id=correlation_id(request),
            patient_id=principal.id if principal.kind == "patient" else None,
        )  # fmt: skip
        await audit.write(conn, record)
    response = see_other(after_sign_in(done.return_to) if audience == "staff" else CITIZEN_HOMES[principal.kind])
    set_session_cookie(request, response, cookie)
    return response


@router.get(CALLBACKS["staff"], dependencies=[Public])
async def staff_callback(request: Request, conn: Conn, code: str = "", state: str = "", error: str = "") -> Response:
    """HelseID's answer: open the staff member's session."""
    return await _signed_in(request, conn, "staff", code, state, error)


@router.get(CALLBACKS["citizen"], dependencies=[Public])
async def citizen_callback(request: Request, conn: Conn, code: str = "", state: str = "", error: str = "") -> Response:
    """ID-porten's answer: open the citizen's session."""
    return await _signed_in(request, conn, "citizen", code, state, error)


async def _sign_out(request: Request, conn: Conn) -> Response:
    cookie = request.cookies.get(authn.SESSION_COOKIE)
    ended = await authn.logout(conn, cookie) if cookie else None
    after = f"{SIGN_IN}?signed_out=true"
    target = None
    if ended is not None and ended.id_token:
        ours = client(request, ended.audience)
        if ours is not None:
            public = request.app.state.settings.public_url.rstrip("/")
            target = await end_session_url(ours, ended.id_token, public + after)
    response: Response = RedirectResponse(target, status_code=303) if target else see_other(after)
    clear_session_cookie(response)
    return response


@router.post("/signout")
async def sign_out(request: Request, conn: Conn, principal: Annotated[Principal, staff_only()]) -> Response:
    """End this session (and its live streams) and, for a HelseID sign-in, HelseID's session too."""
    return await _sign_out(request, conn)


@router.post("/citizen/signout", dependencies=[Public])
async def citizen_sign_out(request: Request, conn: Conn) -> Response:
    """End a citizen's session (the form carries the session's CSRF token, checked by `principal_of`) and
    ID-porten's session too."""
    principal = await principal_of(request, conn)
    if principal is None or principal.kind not in CITIZEN_HOMES:
        return see_other(f"{SIGN_IN}?signed_out=true")
    return await _sign_out(request, conn)
