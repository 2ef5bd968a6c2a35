"""A token issuer the tests control: a real HTTP server on a free port serving an OpenID metadata document and
a JWK Set, and a minter for access tokens with any fault the HelseID test token service can inject (wrong key,
`alg: none`, wrong `typ`, wrong `iss`, two audiences, expired, `nbf` ahead, missing scope or claims).

Valid flows run against the real provider process (tests/support/oidc.py); this one exists for the tokens no
honest provider would issue, and for key rotation and a provider that is down or answers garbage.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.util import urlsafe_b64encode

from common.ports import free_port


@dataclass
class Issuer:
    """The issuer's address, its published signing keys (change them to rotate) and a switch that breaks it."""

    issuer: str
    published: list[ECKey] = field(default_factory=list)
    broken: str | None = None  # "down" (500), "garbage" (not JSON), "no_jwks_uri" (metadata lacks it)
    key_fetches: int = 0

    @property
    def signing(self) -> ECKey:
        """The key new tokens are signed with (the newest published one)."""
        return self.published[-1]

    def rotate(self) -> ECKey:
        """Publish a new key beside the old ones and sign with it from now on."""
        self.published.append(ECKey.generate_key("P-256", auto_kid=True))
        return self.signing

    def mint(self, claims: dict[str, Any], *, key: ECKey | None = None, header: dict[str, Any] | None = None) -> str:
        """A signed token (ES256, typ at+jwt unless `header` says otherwise) with exactly `claims`."""
        signer = key or self.signing
        protected = {"alg": "ES256", "typ": "at+jwt", "kid": signer.kid, **(header or {})}
        return jwt.encode(protected, claims, signer)

    def document(self, path: str) -> tuple[int, bytes]:
        """The answer to GET `path`."""
        if self.broken == "down":
            return 500, b"{}"
        if self.broken == "garbage":
            return 200, b"<html>maintenance</html>"
        if path == "/.well-known/openid-configuration":
            metadata = {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
            }
            if self.broken != "no_jwks_uri":
                metadata["jwks_uri"] = f"{self.issuer}/jwks"
            return 200, json.dumps(metadata).encode()
        if path == "/jwks":
            self.key_fetches += 1
            return 200, json.dumps({"keys": [key.as_dict(private=False) for key in self.published]}).encode()
        return 404, b"{}"


def unsigned(claims: dict[str, Any], typ: str = "at+jwt") -> str:
    """A token with `alg: none` and no signature (what a forger sends hoping the check is skipped)."""
    header = urlsafe_b64encode(json.dumps({"alg": "none", "typ": typ}).encode()).decode()
    payload = urlsafe_b64encode(json.dumps(claims).encode()).decode()
    return f"{header}.{payload}."


@contextmanager
def issuer_server() -> Iterator[Issuer]:
    """A running issuer with one published key."""
    port = free_port()
    issuer = Issuer(f"http://127.0.0.1:{port}")
    issuer.rotate()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = issuer.document(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def staff_claims(issuer: str, person: str, /, **changes: Any) -> dict[str, Any]:
    """A valid HelseID-style access token's claims for `person` (a national id); `changes` replace claims
    (None removes one; `pid`, `level` and `orgnr` name the HelseID claims)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": "tryggheim:api",
        "sub": f"sub-{person}",
        "client_id": "tryggheim-tests",
        "scope": "openid tryggheim:api/staff",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "helseid://claims/identity/pid": person,
        "helseid://claims/identity/security_level": "4",
        "helseid://claims/hpr/hpr_number": "181000001",
    }
    for name, value in changes.items():
        claim = {"pid": "helseid://claims/identity/pid", "level": "helseid://claims/identity/security_level",
                 "orgnr": "helseid://claims/client/claims/orgnr_parent"}.get(name, name)  # fmt: skip
        if value is None:
            claims.pop(claim, None)
        else:
            claims[claim] = value
    return claims
