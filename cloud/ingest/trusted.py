"""The ingest route's memory of accepted gateway credentials, kept for minutes instead of the 5 s of the other
gateway routes (cloud/gateways/credentials.py).

What it remembers decides only whose body is read, never what is stored: ingest checks the credential again
inside each batch's transaction (cloud/ingest/store.py), so a revoked or expired credential stores nothing
however recently it was remembered here, and the route forgets it as soon as that check refuses it (its next
upload is refused before its body is read). With 1,000+ gateways each sending every few seconds or minutes, the
5 s memory almost never held the answer: each request paid a pool checkout and a round trip before its body.
"""

from __future__ import annotations

import time
from typing import Any

from psycopg_pool import AsyncConnectionPool

from cloud.access.secrets import token_digest
from cloud.gateways.credentials import GatewayPrincipal, authenticate_cached

TRUST_SECONDS = 300.0
_LIMIT = 50_000


class TrustedCredentials:
    """Accepted credentials by digest, each with the monotonic time until which it is trusted."""

    def __init__(self, seconds: float = TRUST_SECONDS, limit: int = _LIMIT) -> None:
        self.seconds = seconds
        self.limit = limit
        self._trusted: dict[bytes, tuple[float, GatewayPrincipal]] = {}

    async def check(self, pool: AsyncConnectionPool[Any], credential: str) -> tuple[GatewayPrincipal | None, bytes]:
        """The credential's gateway (None: refused) and the credential's digest, from memory when trusted."""
        digest = token_digest(credential)
        now = time.monotonic()
        hit = self._trusted.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1], digest
        gateway = await authenticate_cached(pool, credential)
        if gateway is None:
            self._trusted.pop(digest, None)
            return None, digest
        if len(self._trusted) >= self.limit:
            for key in [key for key, (until, _) in self._trusted.items() if until <= now]:
                del self._trusted[key]
            if len(self._trusted) >= self.limit:  # all current: start over rather than grow without bound
                self._trusted.clear()
        self._trusted[digest] = (now + self.seconds, gateway)
        return gateway, digest

    def forget(self, digest: bytes) -> None:
        """Stop trusting a credential (the batch's own check refused it)."""
        self._trusted.pop(digest, None)
