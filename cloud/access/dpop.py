"""DPoP (RFC 9449): proof that the caller holds the key an access token is bound to.

A proof is checked as HelseID's reference API checks it: `typ` dpop+jwt; an asymmetric `alg`; a public `jwk`
in the header (never a private one), whose RFC 7638 thumbprint is the token's `cnf.jkt`; the signature by that
key; `htm` and `htu` equal to this request's method and address; `ath` the hash of this access token; a fresh
`iat`; a `jti` never seen before by any process of the deployment; and the server's current nonce.

Nonces are made, not stored: a time step and an HMAC of it under a key every process reads from the database
(`access_secrets`), so any process accepts the nonce another issued, for the current and the previous step.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, RSAKey
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from cloud.access.access_tokens import SIGNING_ALGORITHMS, TokenRefused, header_of

PROOF_MAX_AGE_S = 60  # an `iat` older than this is stale
PROOF_FUTURE_S = 5  # clock skew allowed ahead
NONCE_STEP_S = 300
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_PRUNE_ONE_IN = 64  # how often an accepted proof also clears expired ids (cheap, keeps the table small)

INVALID_PROOF = "invalid_dpop_proof"
USE_NONCE = "use_dpop_nonce"


class NonceNeeded(TokenRefused):
    """The proof lacks the current server nonce; the client retries with the nonce in the answer's header."""

    def __init__(self, message: str, nonce: str) -> None:
        super().__init__(message, error=USE_NONCE)
        self.nonce = nonce


def access_token_hash(token: str) -> str:
    """`ath`: base64url of the SHA-256 of the access token (RFC 9449 section 4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


def request_uri(url: str) -> str:
    """The `htu` form of an address: without query and fragment, scheme and host in lower case."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


def _same_address(htu: object, url: str) -> bool:
    """Whether a proof's `htu` names `url`; an `htu` that is not even an address (`http://[`) names nothing."""
    try:
        return isinstance(htu, str) and request_uri(htu) == request_uri(url)
    except ValueError:
        return False


def make_nonce(key: bytes, now: float | None = None) -> str:
    """The nonce of the current time step."""
    step = int((time.time() if now is None else now) // NONCE_STEP_S)
    return _nonce(key, step)


def _nonce(key: bytes, step: int) -> str:
    mac = hmac.new(key, str(step).encode(), hashlib.sha256).digest()[:18]
    return f"{step}.{base64.urlsafe_b64encode(mac).decode()}"


def nonce_is_current(key: bytes, nonce: Any, now: float | None = None) -> bool:
    """Whether `nonce` was made for this time step or the one before."""
    if not isinstance(nonce, str):
        return False
    step = int((time.time() if now is None else now) // NONCE_STEP_S)
    return any(hmac.compare_digest(nonce, _nonce(key, s)) for s in (step, step - 1))


def _refuse(message: str) -> TokenRefused:
    return TokenRefused(message, error=INVALID_PROOF)


def check_proof(
    proof: str, *, method: str, url: str, access_token: str, jkt: str, nonce_key: bytes, now: float | None = None
) -> dict[str, Any]:
    """The claims of a valid proof for this request and token; raises `TokenRefused` (or `NonceNeeded`)."""
    moment = time.time() if now is None else now
    header = header_of(proof)
    if header.get("typ") != "dpop+jwt":
        raise _refuse("The DPoP proof's typ must be dpop+jwt.")
    algorithm = header.get("alg")
    if algorithm not in SIGNING_ALGORITHMS:
        raise _refuse("The DPoP proof must be signed with an asymmetric algorithm.")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise _refuse("The DPoP proof carries no public key (jwk).")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise _refuse("The DPoP proof's jwk holds private key material.")
    try:
        key = JWKRegistry.import_key(jwk)
        if not isinstance(key, ECKey | RSAKey) or key.is_private:
            raise _refuse("The DPoP proof's jwk is not a public EC or RSA key.")
        claims = jwt.decode(proof, key, algorithms=[str(algorithm)]).claims
    except JoseError:
        raise _refuse("The DPoP proof's signature does not verify with its jwk.") from None
    except (ValueError, TypeError, KeyError):
        raise _refuse("The DPoP proof's jwk is not a usable key.") from None
    if key.thumbprint() != jkt:
        raise _refuse("The DPoP proof's key is not the one the access token is bound to.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 256:
        raise _refuse("The DPoP proof has no usable jti.")
    if claims.get("htm") != method:
        raise _refuse("The DPoP proof's htm is not this request's method.")
    if not _same_address(claims.get("htu"), url):
        raise _refuse("The DPoP proof's htu is not this request's address.")
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or isinstance(issued, bool):
        raise _refuse("The DPoP proof has no iat.")
    if issued < moment - PROOF_MAX_AGE_S or issued > moment + PROOF_FUTURE_S:
        raise _refuse("The DPoP proof's iat is not recent.")
    if not isinstance(claims.get("ath"), str) or not hmac.compare_digest(
        claims["ath"], access_token_hash(access_token)
    ):
        raise _refuse("The DPoP proof's ath does not match the access token.")
    if not nonce_is_current(nonce_key, claims.get("nonce"), moment):
        raise NonceNeeded("The DPoP proof must carry the server's current nonce.", make_nonce(nonce_key, moment))
    return claims


async def first_use(conn: AsyncConnection[Any], jkt: str, jti: str) -> bool:
    """Record a proof's id; False when any process of the deployment has seen it before (a replay). An id is
    kept as long as its proof's `iat` could still be accepted."""
    digest = hashlib.sha256(f"{jkt}\x00{jti}".encode()).digest()
    cur = await conn.execute(
        "INSERT INTO dpop_proofs (proof_hash, expires_at) VALUES (%s, now() + make_interval(secs => %s)) "
        "ON CONFLICT DO NOTHING RETURNING 1",
        (digest, PROOF_MAX_AGE_S + PROOF_FUTURE_S),
    )
    fresh = await cur.fetchone() is not None
    if fresh and secrets.randbelow(_PRUNE_ONE_IN) == 0:
        await conn.execute("DELETE FROM dpop_proofs WHERE expires_at < now()")
    return fresh


async def nonce_key(conn: AsyncConnection[Any]) -> bytes:
    """The deployment's nonce key (made by the migration that created the table)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT value FROM access_secrets WHERE name = 'dpop_nonce'")
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("access_secrets holds no dpop_nonce key; run `tryggheim db upgrade`")
    return bytes(row["value"])
