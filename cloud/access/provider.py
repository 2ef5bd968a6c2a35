"""An identity provider Tryggheim trusts (HelseID for staff, ID-porten for citizens, or a compatible one): its
metadata document and its signing keys.

HelseID's client requirements ask that endpoints come from the metadata document, never from configuration,
and that the document is cached for about a day (HelseID security profile, "funksjonelle krav" FK2). Keys
rotate: a token signed with a key the cached set lacks makes one refresh of the set, then the token is refused
(a forger choosing fresh `kid`s could otherwise make us fetch the key set on every request, so refreshes are
also spaced out).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

METADATA_TTL_S = 24 * 3600
KEYS_TTL_S = 3600
REFRESH_SPACING_S = 30.0  # the shortest time between two key-set fetches caused by unknown keys
FETCH_TIMEOUT_S = 5.0
# What we need from the metadata document; without one of these the provider cannot be used.
_REQUIRED = ("issuer", "jwks_uri", "authorization_endpoint", "token_endpoint")


class ProviderUnavailable(Exception):  # noqa: N818 - reads as a state, as PasswordCheckBusy does
    """The provider cannot be reached, or answered with something that is not usable metadata or keys; the
    message says which (never a secret)."""


@dataclass
class IdentityProvider:
    """One issuer's metadata and keys, fetched on first use and cached; safe to share between requests."""

    issuer: str
    http: httpx.AsyncClient
    _metadata: dict[str, Any] | None = None
    _metadata_at: float = 0.0
    _keys: KeySet | None = None
    _keys_at: float = 0.0
    _forced_at: float = float("-inf")  # the last refresh an unknown key caused
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def metadata(self) -> dict[str, Any]:
        """The metadata document (`/.well-known/openid-configuration`), whose `issuer` must equal ours exactly."""
        if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL_S:
            return self._metadata
        async with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at >= METADATA_TTL_S:
                document = await self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
                missing = [name for name in _REQUIRED if not isinstance(document.get(name), str)]
                if missing:
                    raise ProviderUnavailable(f"the provider's metadata lacks {', '.join(missing)}")
                if document["issuer"] != self.issuer:
                    raise ProviderUnavailable(
                        f"the provider's metadata names issuer {document['issuer']!r}, not {self.issuer!r}"
                    )
                self._metadata, self._metadata_at = document, time.monotonic()
        return self._metadata

    async def endpoint(self, name: str) -> str | None:
        """An endpoint of the metadata (`token_endpoint`, `end_session_endpoint`, ...), None when not offered."""
        value = (await self.metadata()).get(name)
        return value if isinstance(value, str) else None

    async def keys(self, kid: str | None) -> KeySet:
        """The signing keys, refreshed once when `kid` is not among the cached ones (and the last refresh is
        not too recent)."""
        now = time.monotonic()
        if self._keys is not None and now - self._keys_at < KEYS_TTL_S and _has(self._keys, kid):
            return self._keys
        jwks_uri = (await self.metadata())["jwks_uri"]  # before the lock, which `metadata` takes too
        async with self._lock:
            now = time.monotonic()
            if self._keys is None or now - self._keys_at >= KEYS_TTL_S:
                self._keys, self._keys_at = await self._fetch_keys(jwks_uri), now
            elif not _has(self._keys, kid) and now - self._forced_at >= REFRESH_SPACING_S:
                self._keys, self._keys_at = await self._fetch_keys(jwks_uri), now
                self._forced_at = now
        assert self._keys is not None
        return self._keys

    async def _fetch_keys(self, jwks_uri: str) -> KeySet:
        document = await self._get_json(jwks_uri)
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ProviderUnavailable(f"the provider's key set is not usable ({type(exc).__name__})") from None
        if any(key.is_private for key in keys.keys):
            raise ProviderUnavailable("the provider's key set holds private keys; refusing to use it")
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self.http.get(url, timeout=FETCH_TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"the identity provider cannot be reached ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise ProviderUnavailable(f"the identity provider answered {response.status_code} for {url}")
        try:
            document = response.json()
        except ValueError:
            raise ProviderUnavailable(f"the identity provider's answer from {url} is not JSON") from None
        if not isinstance(document, dict):
            raise ProviderUnavailable(f"the identity provider's answer from {url} is not a JSON object")
        return document


def _has(keys: KeySet | None, kid: str | None) -> bool:
    if keys is None:
        return False
    if kid is None:
        return True
    return any(key.kid == kid for key in keys.keys)
