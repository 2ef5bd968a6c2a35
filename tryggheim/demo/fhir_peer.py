"""Stand-ins for Norsk helsenett's Velferdsteknologisk knutepunkt (VKP) and Pasientens måledata (PMD), for the
tests and the demo: a small real HTTP server that checks each call as the real services' HelseID rules demand and
says what it received, one line per request.

Every request must carry a DPoP-bound access token of the configured issuer (signature by a key of the issuer's
published set, exact issuer, the service's audience, expiry) and a DPoP proof (RFC 9449: `typ`, public `jwk`
whose thumbprint is the token's `cnf.jkt`, signature, `htm`, `htu`, `ath`, fresh `iat`, a `jti` never seen
before); with `require_nonce` the proof must also carry the server's nonce, which the first call lacks (a 401
with `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header), so a client's nonce retry runs.

- VKP: `POST {vkp_base}/{orgnr}/Bundle` with a `ServiceCodes` header and a `document` Bundle -> 201 and the
  stored Bundle (with its new id); 400 with an OperationOutcome otherwise (VKP.Samples, Common/VkpClient.cs).
- PMD: `POST {pmd_base}/Bundle` with `person-id` and `correlation-id` headers and a `batch` Bundle whose entries
  each have a unique `fullUrl` -> 200 and a `batch-response` Bundle echoing each entry's `fullUrl`; entries named
  in `fail_entries` get a 400 with an OperationOutcome of their own (HL7 Norway VkpObservation, batch-bundle).

Errors on demand (`fail_next`): the next N authenticated calls answered 400 with an OperationOutcome, 503, 200
with a body that is not JSON, or 401 `invalid_token` (as if the token were revoked). `received` lists every
call, refused ones included.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from cloud.access import dpop
from cloud.access.access_tokens import SIGNING_ALGORITHMS, TokenRefused, check_claims, header_of
from common.digits import plain_digits
from tryggheim.demo import console
from tryggheim.demo.serving import ThreadedServer

VKP_AUDIENCE = "nhn:vkp"
PMD_AUDIENCE = "nhn:pmd"
VKP_SCOPE = "nhn:vkp/api/user/bundle.write"  # VKP.Samples, Common/HelseId.json
PMD_SCOPE = "nhn:pmd/api/measurements.write"  # a stand-in's name: PMD's scope is given at registration
Failure = Literal["outcome", "unavailable", "not_json", "invalid_token"]
_HEADERS_KEPT = ("servicecodes", "person-id", "correlation-id", "content-type")
_MAX_BODY = 8 * 1024 * 1024
_PRUNE_ABOVE = 4096


def operation_outcome(text: str, code: str = "invalid") -> dict[str, Any]:
    """An OperationOutcome with one error issue."""
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


@dataclass(frozen=True)
class Received:
    """One call as the stand-in saw it: which service, what came, what it answered (`refused`: why not 2xx)."""

    service: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    client_id: str | None = None
    refused: str | None = None
    proof: dict[str, Any] = field(default_factory=dict)  # the verified DPoP proof's claims


class _Refusal(Exception):  # noqa: N818 - an answer, not an error of the stand-in
    def __init__(self, status: int, error: str, text: str, nonce: str | None = None) -> None:
        super().__init__(text)
        self.status, self.error, self.nonce = status, error, nonce


class FhirPeer(ThreadedServer):
    """VKP and PMD stand-ins on one port; `start()` (or `with`) runs it in a thread. `echo` gets the one-line
    summaries (print by default, None for silence)."""

    thread_name = "fhir-peer"

    def __init__(
        self,
        issuer: str,
        *,
        require_nonce: bool = False,
        vkp_audience: str = VKP_AUDIENCE,
        pmd_audience: str = PMD_AUDIENCE,
        echo: Callable[[str], None] | None = print,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.issuer = issuer
        self.require_nonce = require_nonce
        self.nonce_loop = False  # every proof is answered with a new nonce demand (a misbehaving server)
        self.audiences = {"vkp": vkp_audience, "pmd": pmd_audience}
        self.required_scopes = {"vkp": VKP_SCOPE, "pmd": PMD_SCOPE}  # a token without it is answered 403
        self.fail_entries: set[str] = set()
        self.echo = echo
        self._nonce_key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._failures: list[Failure] = []
        self._seen_proofs: dict[tuple[str, str], float] = {}  # (jkt, jti) -> when, kept while iat is acceptable
        self._keys: KeySet | None = None
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        """`http://host:port` of the server."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def vkp_base(self) -> str:
        """VKP's FHIR base (`{vkp_base}/{orgnr}/Bundle` journals)."""
        return f"{self.url}/vkp"

    @property
    def pmd_base(self) -> str:
        """PMD's FHIR base (`{pmd_base}/Bundle` shares measurements)."""
        return f"{self.url}/pmd"

    def fail_next(self, count: int, kind: Failure) -> None:
        """Answer the next `count` authenticated calls with `kind` instead of accepting them."""
        with self._lock:
            self._failures.extend([kind] * count)

    def received(self, service: str | None = None) -> list[Received]:
        """Every call so far (of `service` only, when given), oldest first."""
        with self._lock:
            return [r for r in self._received if service is None or r.service == service]

    def clear(self) -> None:
        """Forget the calls received and the failures still queued."""
        with self._lock:
            self._received.clear()
            self._failures.clear()

    # --- checks -------------------------------------------------------------------------------------------------

    def _issuer_keys(self, kid: str | None, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            metadata = httpx.get(f"{self.issuer.rstrip('/')}/.well-known/openid-configuration", timeout=5).json()
            self._keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"], timeout=5).json())
        if kid is not None and not any(key.kid == kid for key in self._keys.keys) and not refresh:
            return self._issuer_keys(kid, refresh=True)
        return self._keys

    def _keys_or_503(self, kid: str | None) -> KeySet:
        try:
            return self._issuer_keys(kid)
        except (httpx.HTTPError, ValueError, KeyError, TypeError, JoseError) as exc:
            raise _Refusal(503, "temporarily_unavailable", f"the issuer's keys cannot be fetched ({exc})") from None

    def verify(
        self, service: str, method: str, url: str, headers: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The access token's and the proof's claims of a call, or `_Refusal` with the 401 to answer."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        proof = headers.get("dpop", "")
        if scheme != "DPoP" or not token:
            raise _Refusal(401, "invalid_token", "an access token of scheme DPoP is required")
        if not proof:
            raise _Refusal(401, "invalid_dpop_proof", "a DPoP proof is required")
        try:
            header = header_of(token)
            algorithm = header.get("alg")
            if algorithm not in SIGNING_ALGORITHMS:
                raise TokenRefused("the access token's alg is not accepted")
            kid = header.get("kid")
            keys = self._keys_or_503(kid if isinstance(kid, str) else None)
            try:
                claims = jwt.decode(token, keys, algorithms=[str(algorithm)]).claims
            except (JoseError, ValueError, TypeError):
                raise TokenRefused("the access token's signature does not verify") from None
            check_claims(claims, issuer=self.issuer, audience=self.audiences[service])
            jkt = (claims.get("cnf") or {}).get("jkt")
            if not isinstance(jkt, str):
                raise TokenRefused("the access token is not DPoP-bound (no cnf.jkt)")
        except TokenRefused as refused:
            raise _Refusal(401, "invalid_token", str(refused)) from None
        proven = self._check_proof(proof, method, url, token, jkt)
        required = self.required_scopes[service]
        if required not in str(claims.get("scope", "")).split():
            raise _Refusal(403, "insufficient_scope", f"the access token lacks the scope {required}")
        return claims, proven

    def _check_proof(self, proof: str, method: str, url: str, token: str, jkt: str) -> dict[str, Any]:
        if self.nonce_loop:
            raise _Refusal(401, dpop.USE_NONCE, "a new nonce is required", secrets.token_urlsafe(12))
        try:
            claims = dpop.check_proof(proof, method=method, url=url, access_token=token, jkt=jkt,
                                      nonce_key=self._nonce_key)  # fmt: skip
        except dpop.NonceNeeded as needed:
            if self.require_nonce:
                raise _Refusal(401, dpop.USE_NONCE, str(needed), needed.nonce) from None
            claims = json.loads(extract_compact(proof.encode()).payload)  # all else passed: the nonce is last
        except TokenRefused as refused:
            raise _Refusal(401, dpop.INVALID_PROOF, str(refused)) from None
        now = time.time()
        with self._lock:
            if (jkt, claims["jti"]) in self._seen_proofs:
                raise _Refusal(401, dpop.INVALID_PROOF, "the DPoP proof's jti was used before")
            if len(self._seen_proofs) > _PRUNE_ABOVE:  # ids whose proofs would be refused as stale anyway
                horizon = now - dpop.PROOF_MAX_AGE_S - dpop.PROOF_FUTURE_S
                self._seen_proofs = {seen: at for seen, at in self._seen_proofs.items() if at >= horizon}
            self._seen_proofs[(jkt, claims["jti"])] = now
        return dict(claims)

    # --- the two services ---------------------------------------------------------------------------------------

    def answer(self, service: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        """What the service answers to an authenticated call: (status, JSON document or text)."""
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure == "outcome":
            return 400, operation_outcome("rejected on demand by the stand-in")
        if failure == "unavailable":
            return 503, operation_outcome("unavailable on demand", "transient")
        if failure == "not_json":
            return 200, "<html><body>Gateway says hello</body></html>"
        if failure == "invalid_token":
            raise _Refusal(401, "invalid_token", "the access token was revoked on demand")
        if service == "vkp":
            return self._vkp(path, headers, body)
        return self._pmd(headers, body)

    def _vkp(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")  # vkp, orgnr, Bundle
        if len(parts) != 3 or parts[2] != "Bundle" or not plain_digits(parts[1]) or len(parts[1]) != 9:
            return 404, operation_outcome(f"no such endpoint {path}", "not-found")
        if not headers.get("servicecodes"):
            return 400, operation_outcome("the ServiceCodes header is required", "required")
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle" or body.get("type") != "document":
            return 400, operation_outcome("a Bundle of type document is expected")
        return 201, {**body, "id": str(uuid.uuid4())}

    def _pmd(self, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        for name in ("person-id", "correlation-id"):
            if not headers.get(name):
                return 400, operation_outcome(f"the {name} header is required", "required")
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle" or body.get("type") != "batch":
            return 400, operation_outcome("a Bundle of type batch is expected")
        entries = body.get("entry") or []
        urls = [entry.get("fullUrl") if isinstance(entry, dict) else None for entry in entries]
        if not urls or None in urls or len(set(urls)) != len(urls):
            return 400, operation_outcome("every entry needs a fullUrl of its own")
        answered = [self._pmd_entry(str(url)) for url in urls]
        return 200, {"resourceType": "Bundle", "type": "batch-response", "entry": answered}

    def _pmd_entry(self, full_url: str) -> dict[str, Any]:
        if full_url in self.fail_entries:
            outcome = operation_outcome("this measurement was refused on demand")
            return {"fullUrl": full_url, "response": {"status": "400 Bad Request", "outcome": outcome}}
        return {"fullUrl": full_url, "response": {"status": "201 Created", "location": f"Observation/{uuid.uuid4()}"}}

    def record(self, received: Received) -> None:
        """Keep a call and print its summary line."""
        with self._lock:
            self._received.append(received)
        if self.echo is not None:
            self.echo(summary(received))


def summary(call: Received) -> str:
    """One line for a person watching the demo: service, call, key headers, what the Bundle held, the answer."""
    body = call.body if isinstance(call.body, dict) else {}
    kinds = Counter(
        str((entry.get("resource") or {}).get("resourceType", "?"))
        for entry in body.get("entry") or []
        if isinstance(entry, dict)
    )
    held = ", ".join(f"{name} x{count}" if count > 1 else name for name, count in sorted(kinds.items()))
    shown = " ".join(
        f"{name}={call.headers[name]}" for name in ("servicecodes", "correlation-id") if name in call.headers
    )
    what = f"{body.get('type', '-')} Bundle [{held}]" if body else console.gettext("no JSON body")
    outcome = f"-> {call.status}" + (f" ({call.refused})" if call.refused else "")
    who = " " + console.gettext("from {client}").format(client=call.client_id) if call.client_id else ""
    return f"{call.service.upper()} {call.method} {call.path}{who} {shown} {what} {outcome}".replace("  ", " ")


def _handler(peer: FhirPeer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Silenced: `summary` lines say what matters."""

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            path = self.path.split("?", 1)[0]
            service = path.strip("/").split("/", 1)[0]
            length = min(int(self.headers.get("content-length") or 0), _MAX_BODY)  # httpx always sends it
            raw = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            kept = {name: headers[name] for name in _HEADERS_KEPT if name in headers}
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            if service not in peer.audiences:
                self._reply(404, operation_outcome(f"no service at {path}", "not-found"))
                return
            call = {"service": service, "method": self.command, "path": path, "headers": kept, "body": body}
            token: dict[str, Any] = {}
            proof: dict[str, Any] = {}
            try:
                token, proof = peer.verify(service, self.command, f"http://{headers.get('host', '')}{path}", headers)
                status, answer = peer.answer(service, path, headers, body)
            except _Refusal as refusal:  # recorded before the answer, so whoever got it finds the record
                peer.record(Received(**call, status=refusal.status, client_id=token.get("client_id"), proof=proof,
                                     refused=f"{refusal.error}: {refusal}"))  # fmt: skip
                self._refuse(refusal)
                return
            peer.record(Received(**call, status=status, client_id=token.get("client_id"), proof=proof,
                                 refused=None if status < 300 else "on demand or invalid"))  # fmt: skip
            self._reply(status, answer)

        def _refuse(self, refusal: _Refusal) -> None:
            extra = (
                {"WWW-Authenticate": f'DPoP error="{refusal.error}", algs="ES256 RS256"'}
                if refusal.status in (401, 403)
                else {}
            )
            if refusal.nonce:
                extra["DPoP-Nonce"] = refusal.nonce
            self._reply(refusal.status, operation_outcome(str(refusal), "security"), extra)

        def _reply(self, status: int, answer: Any, extra: dict[str, str] | None = None) -> None:
            text = answer if isinstance(answer, str) else json.dumps(answer)
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if isinstance(answer, str) else "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
