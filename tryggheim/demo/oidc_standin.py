"""HelseID's browser sign-in, stood in for the demo: the authorization code flow the cloud's staff sign-in
(cloud/access/oidc_sign_in.py) runs against HelseID, served by the demo's HelseID stand-in
(tryggheim/demo/helseid_standin.py) under the same issuer as its machine clients.

What it checks, as HelseID does: a registered client and its exact redirect URI, `response_type=code`, PKCE with
S256 only, `openid` among the scopes; at the token endpoint `private_key_jwt` and a DPoP proof (checked by the
stand-in before a code is looked at), the code once, within a minute, for the same client and redirect URI, and
the PKCE verifier. Instead of BankID or Buypass the login page lists the demo's staff as buttons; the ID token and
the DPoP-bound access token carry the claims `cloud.access.federation` maps to a staff member: national id
(`pid`), HPR number where the person has one, security level 4. `end_session` returns to a registered address.
Local accounts keep working beside it (the demo runs with `auth_mode=local` and this provider).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from joserfc.jwk import ECKey, Key
from pydantic import SecretStr

from cloud.access import audit, directory, federation
from cloud.access.roles import ROLE_NAMES, Role
from cloud.config import CloudSettings
from cloud.db.pool import connect
from common.i18n import translations

CLIENT_ID = "tryggheim-demo-signin"
CODE_TTL_S = 60
LOGIN_TTL_S = 600  # the time a person has on the login page
API_AUDIENCE, API_SCOPE = "tryggheim:api", "tryggheim:api/staff"  # CloudSettings' defaults for staff tokens


@dataclass(frozen=True)
class Person:
    """Someone HelseID knows: the demo account bound to them, and what HelseID vouches for."""

    username: str
    name: str
    role: Role
    pid: str  # synthetic national id (Skatteetaten Tenor: month + 80), never a real person's
    hpr: str | None  # health personnel have an HPR number; an installer or an auditor has none


PEOPLE = (
    Person("demo.sykepleier", "Sykepleier Demo", Role.NURSE, "12837840080", "991234567"),
    Person("demo.responssenter", "Responssenter Demo", Role.RESPONSE_CENTRE, "04898540184", "991234568"),
    Person("demo.installator", "Installatør Demo", Role.INSTALLER, "23819040281", None),
    Person("demo.admin", "Administrator Demo", Role.MUNICIPALITY_ADMIN, "07917040006", None),
    Person("demo.revisor", "Revisor Demo", Role.AUDITOR, "15868240080", None),
)


class Refused(Exception):  # noqa: N818 - an answer of the provider, not a fault of the stand-in
    """A token request the provider refuses (RFC 6749 section 5.2)."""

    def __init__(self, error: str, text: str) -> None:
        super().__init__(text)
        self.error = error


@dataclass(frozen=True)
class Client:
    """A relying party registered for sign-in."""

    client_id: str
    redirect_uris: frozenset[str]
    post_logout_uris: frozenset[str]


@dataclass(frozen=True)
class _Request:
    """An authorization request waiting for the person's choice, or (with `person`) a code waiting to be
    redeemed."""

    client_id: str
    redirect_uri: str
    state: str
    nonce: str | None
    challenge: str
    scope: str
    expires: float
    person: Person | None = None


@dataclass(frozen=True)
class Answer:
    """What the stand-in answers a browser: a page (status, HTML) or a redirect (`location`)."""

    status: int
    body: str = ""
    location: str | None = None


@dataclass
class StaffSignIn:
    """The authorization code flow of one issuer; `mint(typ, claims)` signs a JWT with the issuer's key."""

    issuer: Callable[[], str]
    mint: Callable[[str, dict[str, Any]], str]
    people: tuple[Person, ...] = PEOPLE
    language: str = "nb"
    clients: dict[str, Client] = field(default_factory=dict)
    _waiting: dict[str, _Request] = field(default_factory=dict, init=False)
    _codes: dict[str, _Request] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def metadata(self) -> dict[str, Any]:
        """What the issuer's metadata adds for sign-in."""
        base = self.issuer()
        return {
            "authorization_endpoint": f"{base}/connect/authorize", "end_session_endpoint": f"{base}/connect/endsession",
            "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"], "subject_types_supported": ["public"],
        }  # fmt: skip

    def authorize(self, query: Mapping[str, str]) -> Answer:
        """An authorization request: the login page, or an error (on our page when the redirect URI is not
        trusted, else back to the client)."""
        _ = translations(self.language).gettext
        client = self.clients.get(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            return self._page(400, _("This sign-in is not from a client HelseID knows."))
        back = {"state": query.get("state", ""), "iss": self.issuer()}
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return _redirect(redirect_uri, {"error": "unsupported_response_type", **back})
        if query.get("code_challenge_method") != "S256" or len(query.get("code_challenge", "")) < 43:
            return _redirect(redirect_uri, {"error": "invalid_request", **back})
        request = _Request(client.client_id, redirect_uri, query.get("state", ""), query.get("nonce"),
                           query["code_challenge"], query.get("scope", ""), time.time() + LOGIN_TTL_S)  # fmt: skip
        handle = secrets.token_urlsafe(24)
        with self._lock:
            self._waiting = {k: v for k, v in self._waiting.items() if v.expires > time.time()}
            self._waiting[handle] = request
        return self._login_page(handle)

    def choose(self, form: Mapping[str, str]) -> Answer:
        """The person's choice on the login page: back to the client with a code (or `access_denied`)."""
        with self._lock:
            request = self._waiting.pop(form.get("request", ""), None)
        _ = translations(self.language).gettext
        if request is None or request.expires < time.time():
            return self._page(400, _("This sign-in has expired or is unknown; start again from Tryggheim."))
        back = {"state": request.state, "iss": self.issuer()}
        person = next((p for p in self.people if p.username == form.get("login")), None)
        if person is None:
            return _redirect(request.redirect_uri, {"error": "access_denied", **back})
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes = {k: v for k, v in self._codes.items() if v.expires > time.time()}
            self._codes[code] = replace(request, person=person, expires=time.time() + CODE_TTL_S)
        return _redirect(request.redirect_uri, {"code": code, **back})

    def redeem(self, form: Mapping[str, str], client_id: str, jkt: str, ttl_s: int) -> dict[str, Any]:
        """The token answer for an authorization code, to an authenticated client holding the DPoP key `jkt`."""
        with self._lock:
            request = self._codes.pop(form.get("code", ""), None)
        if request is None or request.person is None or request.expires < time.time():
            raise Refused("invalid_grant", "the code is unknown, used or expired")
        if request.client_id != client_id or form.get("redirect_uri") != request.redirect_uri:
            raise Refused("invalid_grant", "the code was issued to another client or redirect URI")
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not secrets.compare_digest(challenge, request.challenge):
            raise Refused("invalid_grant", "the PKCE code_verifier does not match the code_challenge")
        now, person = int(time.time()), request.person
        vouched = {federation.HELSEID_PID: person.pid, federation.HELSEID_SECURITY_LEVEL: "4", "name": person.name}
        if person.hpr:
            vouched[federation.HELSEID_HPR] = person.hpr
        common = {"iss": self.issuer(), "sub": _subject(person), "iat": now, "exp": now + ttl_s, **vouched}
        nonce = {"nonce": request.nonce} if request.nonce else {}
        id_token = self.mint("JWT", {**common, **nonce, "aud": client_id, "auth_time": now,
                                     "jti": secrets.token_urlsafe(16)})  # fmt: skip
        access = self.mint("at+jwt", {**common, "aud": API_AUDIENCE, "client_id": client_id, "scope": API_SCOPE,
                                      "cnf": {"jkt": jkt}, "jti": secrets.token_urlsafe(16)})  # fmt: skip
        scope = f"{request.scope} {API_SCOPE}".strip()
        return {"access_token": access, "id_token": id_token, "token_type": "DPoP", "expires_in": ttl_s, "scope": scope}

    def end_session(self, query: Mapping[str, str]) -> Answer:
        """RP-initiated logout: back to the client's registered address (the stand-in keeps no session)."""
        client = self.clients.get(query.get("client_id", ""))
        after = query.get("post_logout_redirect_uri", "")
        if client is not None and after in client.post_logout_uris:
            return Answer(303, location=after)
        return self._page(200, translations(self.language).gettext("You are signed out of HelseID."))

    def _login_page(self, handle: str) -> Answer:
        _ = translations(self.language).gettext
        buttons = []
        for person in self.people:
            detail = _(ROLE_NAMES[person.role]) + (f", {_('HPR number')} {person.hpr}" if person.hpr else "")
            buttons.append(
                f'<li><button name="login" value="{html.escape(person.username)}">{html.escape(person.name)}'
                f"</button> <small>{html.escape(detail)}</small></li>"
            )
        intro = _("Choose who signs in. In a real deployment this is HelseID, with BankID, Buypass or Commfides.")
        body = (
            f"<p>{html.escape(intro)}</p>"
            f'<form method="post" action="/connect/authorize"><input type="hidden" name="request" value="{handle}">'
            f'<ul>{"".join(buttons)}</ul><p><button name="login" value="">{html.escape(_("Cancel"))}</button></p>'
            "</form>"
        )
        return self._page(200, body, raw=True)

    def _page(self, status: int, text: str, *, raw: bool = False) -> Answer:
        _ = translations(self.language).gettext
        title = html.escape(_("HelseID (demo stand-in)"))
        content = text if raw else f"<p>{html.escape(text)}</p>"
        page = (
            f'<!doctype html><html lang="{self.language}"><meta charset="utf-8"><title>{title}</title>'
            f"<body><h1>{title}</h1>{content}</body></html>"
        )
        return Answer(status, page)


def _redirect(uri: str, query: dict[str, str]) -> Answer:
    return Answer(303, location=f"{uri}{'&' if '?' in uri else '?'}{urlencode(query)}")


def _subject(person: Person) -> str:
    """A stable pairwise-looking subject, not the national id (HelseID's `sub` is opaque)."""
    return base64.urlsafe_b64encode(hashlib.sha256(f"demo:{person.pid}".encode()).digest()[:18]).decode()


def client_settings(settings: CloudSettings, register: Callable[[Client, Key], None], issuer: str) -> CloudSettings:
    """`settings` with the staff provider set to the stand-in at `issuer`, after registering the service as a
    sign-in client there (its redirect and sign-out addresses are those of `settings.public_url`). Local
    accounts stay on: the demo offers both."""
    key = ECKey.generate_key("P-256", parameters={"kid": secrets.token_urlsafe(8)})
    public = settings.public_url.rstrip("/")
    client = Client(CLIENT_ID, frozenset({f"{public}/signin/helseid/callback"}),
                    frozenset({f"{public}/signin?signed_out=true"}))  # fmt: skip
    register(client, key)
    text = SecretStr(json.dumps(key.as_dict(private=True)))
    return settings.model_copy(update={"oidc_issuer": issuer, "oidc_client_id": CLIENT_ID, "oidc_client_key": text})


async def _bind(runtime_url: str, people: tuple[Person, ...]) -> int:
    bound = 0
    async with await connect(runtime_url) as conn:
        for person in people:
            try:
                staff_id, _municipality = await directory.staff_id_by_username(conn, person.username)
            except directory.DirectoryError:
                continue  # an account this version of the demo does not have
            bound += await directory.bind_national_id(conn, audit.Actor.system("demo"), staff_id, person.pid)
    return bound


def bind_staff(runtime_url: str, people: tuple[Person, ...] = PEOPLE) -> int:
    """Bind the demo's staff accounts to the people the stand-in signs in (once; returns how many were bound
    now), as an administrator binds a staff member to their HelseID identity."""
    return asyncio.run(_bind(runtime_url, people))
