"""A real OpenID provider process for the tests, set up like HelseID (staff) or ID-porten (citizens).

`oidc_provider(...)` runs panva's oidc-provider (tests/support/oidc_provider/provider.mjs, npm package from
package-lock.json) on a free port. Its login page (`/interaction/<uid>`) has a text field `login` (label
"Login"), in the ID-porten profile a `<select name="acr">` (label "Security level") with `idporten-loa-substantial`
and `idporten-loa-high`, and a button "Sign in"; an unknown login shows the form again with an alert. Signing in
grants everything asked for (no consent page). Its sign-out page (end_session_endpoint) has the buttons
"Yes, sign me out" and "No, stay signed in"; `sign_out` clicks the first with plain HTTP.

JOSE pieces follow RFC 7523 (private_key_jwt client assertions), RFC 7636 (PKCE) and RFC 9449 (DPoP).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from joserfc.util import urlsafe_b64encode

from common.ports import free_port
from tests.support.proc import wait_for_line

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_SCRIPT = Path(__file__).with_name("oidc_provider") / "provider.mjs"
STARTUP_TIMEOUT = 20
MAX_HOPS = 10
_CURVE_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_DPOP_HEADER_FIELDS = {"typ", "alg", "jwk", "kid", "crit"}


class SignInRefusedError(Exception):
    """The provider's login page did not accept the login (its alert text is the message)."""


def new_keys() -> ECKey:
    """A fresh P-256 key pair (for DPoP proofs or a private_key_jwt client)."""
    return ECKey.generate_key("P-256")


def public_jwks(key: ECKey | RSAKey) -> dict[str, Any]:
    """The JWK Set with the public half of `key`, as a client's `jwks` metadata holds it."""
    return {"keys": [key.as_dict(private=False)]}


def _b64url_sha256(text: str) -> str:
    return urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _algorithm(key: ECKey | RSAKey) -> str:
    return "RS256" if isinstance(key, RSAKey) else _CURVE_ALGORITHMS[str(key.curve_name)]


def dpop_proof(
    key: ECKey, method: str, url: str, *, access_token: str | None = None, nonce: str | None = None, **overrides: Any
) -> str:
    """A DPoP proof JWT (RFC 9449 section 4.2) for `method` `url` signed with `key`.

    With `access_token` it carries `ath`, with `nonce` the server's nonce. `overrides` replace header fields
    (typ, alg, jwk, kid, crit) or claims (htm, htu, iat, jti, ath, nonce, anything else); None removes one
    (except alg). The signature is always made with `key`, so `alg` can only name an algorithm `key` signs with;
    `jwk=other_key.as_dict()` makes a proof whose embedded key is not the signer.
    """
    parts = urlsplit(url)
    header: dict[str, Any] = {"typ": "dpop+jwt", "alg": _algorithm(key), "jwk": key.as_dict(private=False)}
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method,
        "htu": f"{parts.scheme}://{parts.netloc}{parts.path}",
        "iat": int(time.time()),
    }
    if access_token is not None:
        claims["ath"] = _b64url_sha256(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    for name, value in overrides.items():
        target = header if name in _DPOP_HEADER_FIELDS else claims
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return jwt.encode(header, claims, key, algorithms=[header["alg"]], default_type=None)


def client_assertion(key: ECKey | RSAKey, client_id: str, audience: str) -> str:
    """A private_key_jwt client assertion (RFC 7523 section 3): iss = sub = client_id, a fresh jti, 60 s life."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 60,
    }
    header: dict[str, Any] = {"alg": _algorithm(key), "typ": "JWT"}
    if key.kid:
        header["kid"] = key.kid
    return jwt.encode(header, claims, key, algorithms=[header["alg"]])


def _is_redirect(response: httpx.Response) -> bool:
    return response.status_code in (301, 302, 303, 307, 308)


@dataclass
class OidcProvider:
    """A running provider: its issuer URL and helpers that act as a browser or as an API client against it."""

    issuer: str
    output: list[str] = field(default_factory=list)

    @cached_property
    def _metadata(self) -> dict[str, Any]:
        response = httpx.get(f"{self.issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        return dict(response.json())

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (OpenID Connect Discovery 1.0)."""
        return dict(self._metadata)

    def key_set(self) -> KeySet:
        """The provider's signing keys (its jwks_uri), to verify ID and access tokens."""
        response = httpx.get(self._metadata["jwks_uri"])
        response.raise_for_status()
        return KeySet.import_key_set(response.json())

    def sign_in(self, http: httpx.Client, authorize_url: str, login: str, acr: str | None = None) -> str:
        """Sign `login` in on the provider's pages, starting at `authorize_url`, as a browser would with `http`
        (which keeps the provider's cookies). Returns the redirect that leaves the provider (to the relying
        party's redirect_uri, with code and state, or an error) without following it."""
        url = authorize_url
        for _ in range(MAX_HOPS):
            response = http.get(url, follow_redirects=False)
            if response.status_code == 200 and urlsplit(url).path.startswith("/interaction/"):
                form = {"login": login} | ({"acr": acr} if acr is not None else {})
                response = http.post(url, data=form, follow_redirects=False)
                if not _is_redirect(response):
                    alert = re.search(r'<p role="alert">(.*?)</p>', response.text)
                    raise SignInRefusedError(html.unescape(alert.group(1)) if alert else response.text)
            if not _is_redirect(response):
                raise AssertionError(f"provider answered {response.status_code} at {url}: {response.text[:500]}")
            url = urljoin(url, response.headers["location"])
            if not url.startswith(f"{self.issuer}/"):
                return url
        raise AssertionError(f"more than {MAX_HOPS} redirects inside the provider, last {url}")

    def sign_out(self, http: httpx.Client, end_session_url: str) -> str:
        """Confirm sign-out on the provider's page ("Yes, sign me out") reached at `end_session_url` (with
        id_token_hint, post_logout_redirect_uri, state...); returns where the provider then redirects."""
        page = http.get(end_session_url, follow_redirects=False)
        page.raise_for_status()
        action = re.search(r'<form[^>]* action="([^"]+)"', page.text)
        xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text)
        assert action and xsrf, f"no sign-out form on the page: {page.text[:500]}"
        response = http.post(action.group(1), data={"xsrf": xsrf.group(1), "logout": "yes"}, follow_redirects=False)
        assert _is_redirect(response), f"sign-out answered {response.status_code}: {response.text[:500]}"
        return urljoin(action.group(1), response.headers["location"])

    def user_tokens(
        self,
        client_id: str,
        login: str,
        *,
        scope: str,
        resource: str,
        redirect_uri: str,
        client_key: ECKey | RSAKey | None = None,
        client_secret: str | None = None,
        dpop_key: ECKey | None = None,
        acr: str | None = None,
    ) -> dict[str, Any]:
        """Run the authorization code flow with PKCE as client `client_id` for `login` and return the token
        response. The client authenticates with private_key_jwt (`client_key`), client_secret_basic
        (`client_secret`) or not at all; with `dpop_key` the tokens are DPoP-bound (nonce retry included)."""
        verifier = secrets.token_urlsafe(48)
        state = secrets.token_urlsafe(16)
        query = {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": _b64url_sha256(verifier),
            "code_challenge_method": "S256",
            "resource": resource,
        } | ({"acr_values": acr} if acr else {})
        with httpx.Client() as browser:
            landing = self.sign_in(
                browser, f"{self._metadata['authorization_endpoint']}?{urlencode(query)}", login, acr
            )
        answer = parse_qs(urlsplit(landing).query)
        assert answer.get("state") == [state], f"unexpected redirect {landing}"
        assert "code" in answer, f"no code in {landing}"
        form = {
            "grant_type": "authorization_code",
            "code": answer["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "resource": resource,
        }
        return self._token_request(client_id, form, client_key=client_key, client_secret=client_secret,
                                   dpop_key=dpop_key)  # fmt: skip

    def client_credentials(self, client_id: str, *, scope: str, client_key: ECKey | RSAKey, dpop_key: ECKey) -> str:
        """A DPoP-bound access token for machine client `client_id` (client credentials grant, private_key_jwt)."""
        form = {"grant_type": "client_credentials", "scope": scope}
        answer = self._token_request(client_id, form, client_key=client_key, client_secret=None, dpop_key=dpop_key)
        return str(answer["access_token"])

    def _token_request(
        self,
        client_id: str,
        form: dict[str, str],
        *,
        client_key: ECKey | RSAKey | None,
        client_secret: str | None,
        dpop_key: ECKey | None,
    ) -> dict[str, Any]:
        endpoint = self._metadata["token_endpoint"]
        nonce = None
        for _ in range(2):
            data = dict(form)
            headers = {}
            # A client assertion's jti is good for one request only, so each attempt makes a new one.
            if client_key is not None:
                data["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                data["client_assertion"] = client_assertion(client_key, client_id, endpoint)
            elif client_secret is None:
                data["client_id"] = client_id
            if dpop_key is not None:
                headers["DPoP"] = dpop_proof(dpop_key, "POST", endpoint, nonce=nonce)
            auth = (client_id, client_secret) if client_secret is not None else None
            response = httpx.post(endpoint, data=data, headers=headers, auth=auth)
            if response.status_code == 400 and response.json().get("error") == "use_dpop_nonce" and nonce is None:
                nonce = response.headers["dpop-nonce"]
                continue
            assert response.status_code == 200, f"token endpoint answered {response.status_code}: {response.text}"
            return dict(response.json())
        raise AssertionError("the token endpoint asked for a DPoP nonce twice")


def _drain(stream: Any, into: list[str]) -> None:
    # The provider may print warnings after READY; reading them keeps its pipe from filling up.
    for line in stream:
        into.append(line)


@contextmanager
def oidc_provider(
    *,
    profile: str,
    clients: list[dict[str, Any]],
    accounts: dict[str, dict[str, Any]],
    resource: str | None,
    resource_scopes: list[str],
    resources: dict[str, list[str]] | None = None,
    token_ttl: dict[str, int] | None = None,
) -> Iterator[OidcProvider]:
    """Run the test OpenID provider with `profile` ("helseid" or "idporten"), the given clients (oidc-provider
    client metadata), accounts (login -> claims) and API (`resource` audience and its scopes); yield it and
    stop it afterwards.

    `resources` adds more APIs (audience -> scopes), e.g. "nhn:vkp" for a machine client's client credentials
    grant (private_key_jwt, DPoP-bound JWT access tokens); `token_ttl` sets their tokens' lifetime in seconds
    (default 300). Asking for one of an API's scopes is enough to get a token for it, as with HelseID."""
    node = shutil.which("node")
    assert node, "node is missing: run 'make sysdeps' as root, or install nodejs"
    more = {
        name: {"scopes": scopes, "ttl": (token_ttl or {}).get(name, 300)} for name, scopes in (resources or {}).items()
    }
    config = {"port": free_port(), "profile": profile, "clients": clients, "accounts": accounts,
              "resource": resource, "resource_scopes": resource_scopes, "resources": more}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="oidc-provider-") as folder:
        config_file = Path(folder) / "config.json"
        config_file.write_text(json.dumps(config))
        process = subprocess.Popen(
            [node, str(PROVIDER_SCRIPT), str(config_file)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            ready = wait_for_line(process, "READY ", timeout=STARTUP_TIMEOUT)
            provider = OidcProvider(issuer=ready.split()[1])
            threading.Thread(target=_drain, args=(process.stdout, provider.output), daemon=True).start()
            yield provider
        finally:
            process.terminate()
            process.wait(10)
