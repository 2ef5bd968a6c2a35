"""A stand-in for HelseID, so the demo can journal to the VKP and PMD stand-ins (tryggheim/demo/fhir_peer.py)
without the real HelseID, and staff can sign in (the end of this docstring). The tests use a real OpenID provider
as well (tests/support/oidc.py); this one implements just what the HelseID security profile asks of a machine
client and checks it strictly, so a client that passes here sends what HelseID expects:

- `/.well-known/openid-configuration` and `/jwks` (the keys its access tokens are signed with);
- `POST /connect/token`, grant `client_credentials` (and `authorization_code`, below), authenticated with
  `private_key_jwt` only: the assertion must be signed by the client's registered key, `iss` = `sub` = the client
  id, `aud` the token endpoint or the issuer, `exp` at most 60 s ahead, a `jti` never seen before;
- a DPoP proof is required (`typ` dpop+jwt, a public `jwk`, signature, `htm` POST, `htu` the token endpoint, a
  fresh `iat` and `jti`) with the server's nonce: the first request is answered `use_dpop_nonce`;
- the access token is a JWT (`typ` at+jwt) for the one API whose scopes were asked for, bound to the proof's key
  (`cnf.jkt`).

Staff sign in through the same issuer: `/connect/authorize`, the `authorization_code` grant and
`/connect/endsession` are the browser sign-in of tryggheim/demo/oidc_standin.py, with the same client
authentication and DPoP rules at the token endpoint.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, Key, RSAKey
from joserfc.jws import extract_compact

from cloud.access import dpop
from cloud.access.access_tokens import SIGNING_ALGORITHMS, header_of
from cloud.access.client_auth import ASSERTION_TYPE, new_proof_key
from tryggheim.demo import console, oidc_standin
from tryggheim.demo.fhir_peer import PMD_AUDIENCE, PMD_SCOPE, VKP_AUDIENCE, VKP_SCOPE, FhirPeer
from tryggheim.demo.serving import ThreadedServer

ASSERTION_MAX_LIFE_S = 60
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})


class _Refused(Exception):  # noqa: N818 - an answer, not an error of the stand-in
    def __init__(self, error: str, text: str, nonce: str | None = None) -> None:
        super().__init__(text)
        self.error, self.nonce = error, nonce
        self.status = 401 if error == "invalid_client" else 400  # RFC 6749 section 5.2


class HelseIdStandIn(ThreadedServer):
    """The token endpoint; `clients` maps client ids to their public keys, `apis` audiences to their scopes."""

    thread_name = "helseid-standin"

    def __init__(
        self,
        clients: Mapping[str, Key],
        apis: Mapping[str, tuple[str, ...]],
        *,
        token_ttl_s: int = 300,
        echo: Callable[[str], None] | None = print,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.clients = dict(clients)
        self.apis = {audience: frozenset(scopes) for audience, scopes in apis.items()}
        self.token_ttl_s = token_ttl_s
        self.echo = echo
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_urlsafe(8), "use": "sig"})
        self._nonce_key = secrets.token_bytes(32)
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self.sign_in = oidc_standin.StaffSignIn(lambda: self.issuer, self._mint)

    def _mint(self, typ: str, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "typ": typ, "kid": self.signing_key.kid}
        return jwt.encode(header, claims, self.signing_key, algorithms=["RS256"])

    def register_sign_in(self, client: oidc_standin.Client, key: Key) -> None:
        """Register a relying party for staff sign-in, authenticated by `key` (private_key_jwt)."""
        self.clients[client.client_id] = key
        self.sign_in.clients[client.client_id] = client

    @property
    def issuer(self) -> str:
        """The issuer, as the metadata names it."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token_endpoint(self) -> str:
        """Where tokens are asked for."""
        return f"{self.issuer}/connect/token"

    def metadata(self) -> dict[str, Any]:
        """The metadata document."""
        return {
            "issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks", "token_endpoint": self.token_endpoint,
            "grant_types_supported": ["client_credentials", "authorization_code"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "dpop_signing_alg_values_supported": ["ES256", "RS256"],
            "scopes_supported": sorted(scope for scopes in self.apis.values() for scope in scopes),
            **self.sign_in.metadata(),
        }  # fmt: skip

    def _first_use(self, kind: str, jti: Any) -> None:
        if not isinstance(jti, str) or not jti:
            raise _Refused("invalid_client" if kind == "assertion" else "invalid_dpop_proof", f"the {kind} has no jti")
        with self._lock:
            if f"{kind}:{jti}" in self._seen:
                error = "invalid_client" if kind == "assertion" else "invalid_dpop_proof"
                raise _Refused(error, f"the {kind}'s jti was used before")
            self._seen.add(f"{kind}:{jti}")

    def client_of(self, assertion: str) -> str:
        """The client id an assertion authenticates, or `_Refused` (invalid_client) saying why not."""
        try:
            client_id = _unverified_issuer(assertion)
            key = self.clients.get(client_id)
            if key is None:
                raise _Refused("invalid_client", "unknown client")
            algorithm = str(header_of(assertion).get("alg"))
            claims = jwt.decode(assertion, key, algorithms=[algorithm]).claims
        except (JoseError, ValueError, TypeError, KeyError, AttributeError):
            raise _Refused("invalid_client", "the client assertion's signature does not verify") from None
        now = time.time()
        if claims.get("sub") != client_id:
            raise _Refused("invalid_client", "the client assertion's sub must be the client id")
        if claims.get("aud") not in (self.token_endpoint, self.issuer):
            raise _Refused("invalid_client", "the client assertion's aud must be the token endpoint")
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or not now - 5 <= expires <= now + ASSERTION_MAX_LIFE_S + 5:
            raise _Refused("invalid_client", "the client assertion's exp must be at most 60 s ahead")
        self._first_use("assertion", claims.get("jti"))
        return client_id

    def proof_key(self, proof: str | None) -> str:
        """The thumbprint of a valid token-request proof's key, or `_Refused` (with a nonce demand when that is
        all that is missing)."""
        if not proof:
            raise _Refused("invalid_dpop_proof", "a DPoP proof is required")
        try:
            header = header_of(proof)
            jwk = header.get("jwk")
            if header.get("typ") != "dpop+jwt" or header.get("alg") not in SIGNING_ALGORITHMS:
                raise _Refused("invalid_dpop_proof", "the DPoP proof's typ or alg is wrong")
            if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & jwk.keys():
                raise _Refused("invalid_dpop_proof", "the DPoP proof needs a public jwk")
            key = JWKRegistry.import_key(jwk)
            if not isinstance(key, ECKey | RSAKey):
                raise _Refused("invalid_dpop_proof", "the DPoP proof's jwk is not an EC or RSA key")
            claims = jwt.decode(proof, key, algorithms=[str(header["alg"])]).claims
        except (JoseError, ValueError, TypeError, KeyError):
            raise _Refused("invalid_dpop_proof", "the DPoP proof's signature does not verify") from None
        issued = claims.get("iat")
        if claims.get("htm") != "POST" or claims.get("htu") != self.token_endpoint:
            raise _Refused("invalid_dpop_proof", "the DPoP proof's htm or htu is not this request's")
        if not isinstance(issued, int | float) or abs(time.time() - issued) > dpop.PROOF_MAX_AGE_S:
            raise _Refused("invalid_dpop_proof", "the DPoP proof's iat is not recent")
        if not dpop.nonce_is_current(self._nonce_key, claims.get("nonce")):
            raise _Refused("use_dpop_nonce", "a DPoP nonce is required", nonce=dpop.make_nonce(self._nonce_key))
        self._first_use("proof", claims.get("jti"))
        return key.thumbprint()

    def token(self, form: Mapping[str, str], proof: str | None) -> dict[str, Any]:
        """The token answer to a token request, or `_Refused`."""
        if form.get("grant_type") not in ("client_credentials", "authorization_code"):
            raise _Refused("unsupported_grant_type", "only client_credentials and authorization_code are served")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise _Refused("invalid_client", "private_key_jwt is the only client authentication")
        client_id = self.client_of(form["client_assertion"])
        jkt = self.proof_key(proof)
        if form.get("grant_type") == "authorization_code":
            try:
                answer = self.sign_in.redeem(form, client_id, jkt, self.token_ttl_s)
            except oidc_standin.Refused as refused:
                raise _Refused(refused.error, str(refused)) from None
            if self.echo is not None:
                self.echo(console.gettext("HelseID sign-in for {client}: ID token and DPoP-bound access token")
                          .format(client=client_id))  # fmt: skip
            return answer
        scopes = set(form.get("scope", "").split())
        audience = next((aud for aud, known in self.apis.items() if scopes and scopes <= known), None)
        if audience is None:
            raise _Refused("invalid_scope", "the scopes must all be of one API this stand-in knows")
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": audience, "sub": client_id, "client_id": client_id,
            "scope": " ".join(sorted(scopes)), "cnf": {"jkt": jkt}, "iat": now, "exp": now + self.token_ttl_s,
            "jti": secrets.token_urlsafe(16),
        }  # fmt: skip
        header = {"alg": "RS256", "typ": "at+jwt", "kid": self.signing_key.kid}
        token = jwt.encode(header, claims, self.signing_key, algorithms=["RS256"])
        if self.echo is not None:
            line = console.gettext("HelseID token for {client}: {audience} [{scope}], DPoP-bound, {ttl} s")
            self.echo(line.format(client=client_id, audience=audience, scope=claims["scope"], ttl=self.token_ttl_s))
        return {"access_token": token, "token_type": "DPoP", "expires_in": self.token_ttl_s, "scope": claims["scope"]}


@dataclass
class NationalServices:
    """The demo's HelseID, VKP and PMD stand-ins and the machine clients HelseID knows (client id -> key file)."""

    helseid: HelseIdStandIn
    peer: FhirPeer
    key_files: dict[str, Path]

    def stop(self) -> None:
        """Stop both servers."""
        self.peer.stop()
        self.helseid.stop()


def start_national_services(
    folder: Path, client_ids: Sequence[str], *, require_nonce: bool = True, echo: Callable[[str], None] | None = print
) -> NationalServices:
    """Start the HelseID stand-in and the VKP/PMD stand-ins trusting it, with one machine client per id (one per
    municipality, as VKP requires), each private key written to `folder/<client id>.json` (mode 0600) for
    `tryggheim admin interop set-client --key-file`."""
    keys = {client_id: new_proof_key() for client_id in client_ids}
    files: dict[str, Path] = {}
    for client_id, key in keys.items():
        path = folder.resolve() / f"{client_id}.json"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(key.as_dict(private=True), handle)
        files[client_id] = path
    apis = {VKP_AUDIENCE: (VKP_SCOPE,), PMD_AUDIENCE: (PMD_SCOPE,)}
    helseid = HelseIdStandIn(keys, apis, echo=echo).start()
    peer = FhirPeer(helseid.issuer, require_nonce=require_nonce, echo=echo).start()
    return NationalServices(helseid, peer, files)


def _unverified_issuer(token: str) -> str:
    """The `iss` of a JWT before its signature is checked, only to find the key that must check it."""
    issuer = json.loads(extract_compact(token.encode()).payload).get("iss")
    if not isinstance(issuer, str):
        raise ValueError("no iss")
    return issuer


def _handler(standin: HelseIdStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Silenced: the stand-in prints its own lines."""

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._reply(200, standin.metadata())
            elif parts.path == "/jwks":
                self._reply(200, {"keys": [standin.signing_key.as_dict(private=False)]})
            elif parts.path == "/connect/authorize":
                self._browser(standin.sign_in.authorize(query))
            elif parts.path == "/connect/endsession":
                self._browser(standin.sign_in.end_session(query))
            else:
                self._reply(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = min(int(self.headers.get("content-length") or 0), 64 * 1024)
            form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
            if self.path == "/connect/authorize":
                self._browser(standin.sign_in.choose(form))
                return
            if self.path != "/connect/token":
                self._reply(404, {"error": "not_found"})
                return
            try:
                self._reply(200, standin.token(form, self.headers.get("dpop")))
            except _Refused as refused:
                extra = {"DPoP-Nonce": refused.nonce} if refused.nonce else {}
                self._reply(refused.status, {"error": refused.error, "error_description": str(refused)}, extra)

        def _browser(self, answer: oidc_standin.Answer) -> None:
            data = answer.body.encode()
            self.send_response(answer.status)
            if answer.location is not None:
                self.send_header("Location", answer.location)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _reply(self, status: int, document: dict[str, Any], extra: dict[str, str] | None = None) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
