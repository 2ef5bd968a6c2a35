"""A municipality's HelseID clients for the national services (table `interop_clients`, owned here).

VKP requires one approved HelseID client per system instance and municipality, so each municipality has its own
client per service (`vkp`, `pmd`): the issuer, the client id, the FHIR base of the service, the scopes asked
for, and `key_file`, the path of the client's private key (a JWK or PEM file, a mounted secret). The key itself
is never stored in the database, logged or shown; it is read when a client is made.

`machine_client` gives the `MachineClient` of a municipality's service, kept per process while its row and its
key file are unchanged (a changed row, `updated_at`, or a replaced key file, its modification time, makes a new
one: a new DPoP key and a new token).
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from joserfc.jwk import Key
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from cloud.access import audit
from cloud.access.client_auth import load_key
from cloud.access.provider import IdentityProvider
from cloud.interop.helseid import InteropRefused, MachineClient
from common.i18n import N_

Service = Literal["vkp", "pmd"]
SERVICES: tuple[Service, ...] = get_args(Service)
SERVICE_NAMES: dict[str, str] = {"vkp": "VKP", "pmd": "PMD"}
MAX_KEY_BYTES = 64 * 1024


KEY_FILE_UNUSABLE = N_("The HelseID client's configuration or key file cannot be used")


class ClientConfigError(InteropRefused):
    """A client configuration that cannot be used (refused input, a key file that cannot be read); the message
    names the field or the file, never the key."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, KEY_FILE_UNUSABLE)


@dataclass(frozen=True)
class InteropClient:
    """One row of `interop_clients`."""

    municipality_id: UUID
    service: Service
    issuer: str
    client_id: str
    key_file: str
    scopes: tuple[str, ...]
    base_url: str
    enabled: bool
    active_from: datetime
    updated_at: datetime
    updated_by: UUID | None

    def as_json(self) -> dict[str, Any]:
        """The row for a person or a JSON answer (the key file's path, never its content)."""
        return {
            "municipality_id": str(self.municipality_id), "service": self.service, "issuer": self.issuer,
            "client_id": self.client_id, "key_file": self.key_file, "scopes": list(self.scopes),
            "base_url": self.base_url, "enabled": self.enabled, "active_from": self.active_from.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "updated_by": None if self.updated_by is None else str(self.updated_by),
        }  # fmt: skip


def _client(row: dict[str, Any]) -> InteropClient:
    return InteropClient(
        municipality_id=row["municipality_id"], service=row["service"], issuer=row["issuer"],
        client_id=row["client_id"], key_file=row["key_file"], scopes=tuple(row["scopes"]), base_url=row["base_url"],
        enabled=row["enabled"], active_from=row["active_from"], updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )  # fmt: skip


def service_of(text: str) -> Service:
    """`text` as a service name, or `ClientConfigError`."""
    if text not in SERVICES:
        raise ClientConfigError(f"unknown service {text!r}: one of {', '.join(SERVICES)}")
    return text


async def get(conn: AsyncConnection[Any], municipality_id: UUID, service: Service) -> InteropClient | None:
    """The municipality's client for `service`, enabled or not (None: never configured)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT * FROM interop_clients WHERE municipality_id = %s AND service = %s",
        (municipality_id, service),
    )
    row = await cur.fetchone()
    return None if row is None else _client(row)


async def list_clients(conn: AsyncConnection[Any], municipality_id: UUID | None = None) -> list[InteropClient]:
    """Every client (of one municipality, when given), by municipality and service."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT * FROM interop_clients WHERE %(m)s::uuid IS NULL OR municipality_id = %(m)s "
        "ORDER BY municipality_id, service",
        {"m": municipality_id},
    )
    return [_client(row) for row in await cur.fetchall()]


def _check_url(field: str, url: str) -> str:
    """An https address, or http to this machine only (the demo's and the tests' stand-ins)."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not host or parts.scheme not in ("https", "http") or (parts.scheme == "http" and not loopback):
        raise ClientConfigError(f"{field} must be an https address (http only on this machine), not {url!r}")
    if parts.query or parts.fragment:
        raise ClientConfigError(f"{field} must have no query or fragment")
    return url.strip().rstrip("/") if field == "base_url" else url.strip()


def read_key(key_file: str) -> Key:
    """The private key in `key_file` (JWK or PEM), or `ClientConfigError` naming the file."""
    try:
        with Path(key_file).open("rb") as handle:
            data = handle.read(MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise ClientConfigError(
            f"the key file {key_file} cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None
    if len(data) > MAX_KEY_BYTES:
        raise ClientConfigError(f"the key file {key_file} is too large to be a key")
    try:
        return load_key(data.decode())
    except UnicodeDecodeError:
        raise ClientConfigError(f"the key file {key_file} holds no usable private key (not text)") from None
    except ValueError as exc:
        raise ClientConfigError(f"the key file {key_file} holds no usable private key ({exc})") from None


@dataclass(frozen=True)
class ClientSettings:
    """What an administrator sets for one service of a municipality."""

    issuer: str
    client_id: str
    key_file: str
    scopes: tuple[str, ...]
    base_url: str
    active_from: datetime | None = None  # None: now for a new client, unchanged for an existing one

    def checked(self) -> ClientSettings:
        """These settings with the addresses normalised, or `ClientConfigError` naming what is wrong; the key
        file must hold a private key this process can read."""
        issuer, base_url = _check_url("issuer", self.issuer), _check_url("base_url", self.base_url)
        client_id = self.client_id.strip()
        if not 1 <= len(client_id) <= 200:
            raise ClientConfigError("client_id must be 1 to 200 characters")
        scopes = tuple(dict.fromkeys(s.strip() for s in self.scopes if s.strip()))
        if not scopes or any(" " in s for s in scopes):
            raise ClientConfigError("give at least one scope, each without spaces")
        if not Path(self.key_file).is_absolute():
            raise ClientConfigError(f"the key file must be an absolute path, not {self.key_file!r}")
        read_key(self.key_file)
        return ClientSettings(issuer, client_id, self.key_file, scopes, base_url, self.active_from)


async def set_client(
    conn: AsyncConnection[Any],
    actor: audit.Actor,
    municipality_id: UUID,
    service: Service,
    settings: ClientSettings,
    *,
    updated_by: UUID | None = None,
) -> InteropClient:
    """Create or replace the municipality's client for `service` and enable it, audited in the same
    transaction; the settings are checked first (`ClientSettings.checked`)."""
    good = await asyncio.to_thread(settings.checked)
    cur = conn.cursor(row_factory=dict_row)
    async with conn.transaction():
        await cur.execute(
            "INSERT INTO interop_clients (municipality_id, service, issuer, client_id, key_file, scopes, base_url, "
            "enabled, active_from, updated_at, updated_by) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, true, coalesce(%s, now()), now(), %s) "
            "ON CONFLICT (municipality_id, service) DO UPDATE SET issuer = excluded.issuer, "
            "client_id = excluded.client_id, key_file = excluded.key_file, scopes = excluded.scopes, "
            "base_url = excluded.base_url, enabled = true, updated_by = excluded.updated_by, "
            "active_from = coalesce(%s, interop_clients.active_from), "
            "updated_at = greatest(now(), interop_clients.updated_at + interval '1 microsecond') "
            "RETURNING *",
            (municipality_id, service, good.issuer, good.client_id, good.key_file, list(good.scopes), good.base_url,
             good.active_from, updated_by, good.active_from),
        )  # fmt: skip
        row = await cur.fetchone()
        assert row is not None
        resource = f"interop_client/{service}"
        await audit.append(conn, actor.record("interop.set-client", resource, municipality_id=municipality_id))
    return _client(row)


async def disable(
    conn: AsyncConnection[Any],
    actor: audit.Actor,
    municipality_id: UUID,
    service: Service,
    *,
    updated_by: UUID | None = None,
) -> bool:
    """Stop using the municipality's client for `service` (audited); False when there is none enabled."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE interop_clients SET enabled = false, updated_by = %s, "
            "updated_at = greatest(now(), updated_at + interval '1 microsecond') "
            "WHERE municipality_id = %s AND service = %s AND enabled RETURNING 1",
            (updated_by, municipality_id, service),
        )
        if await cur.fetchone() is None:
            return False
        resource = f"interop_client/{service}"
        await audit.append(conn, actor.record("interop.disable-client", resource, municipality_id=municipality_id))
    return True


@dataclass(frozen=True)
class _Cached:
    updated_at: datetime
    key_mtime_ns: int
    http: httpx.AsyncClient
    client: MachineClient


_cache: dict[tuple[UUID, str], _Cached] = {}
_providers: dict[str, IdentityProvider] = {}  # by issuer, so clients of one issuer share its cached metadata


def _provider(issuer: str, http: httpx.AsyncClient) -> IdentityProvider:
    known = _providers.get(issuer)
    if known is None or known.http is not http:
        known = _providers[issuer] = IdentityProvider(issuer, http)
    return known


def _mtime_ns(key_file: str) -> int:
    try:
        return Path(key_file).stat().st_mtime_ns
    except OSError:
        return -1  # read_key says what is wrong


async def machine_client(
    source: AsyncConnection[Any] | AsyncConnectionPool[Any],
    municipality_id: UUID,
    service: Service,
    *,
    http: httpx.AsyncClient,
) -> MachineClient | None:
    """The municipality's client for `service` (None when none is configured or it is disabled), reusing the one
    made before while its row and key file are unchanged. `http` carries its requests (the caller owns it).
    Raises `ClientConfigError` when the key file cannot be read."""
    if isinstance(source, AsyncConnectionPool):
        async with source.connection() as conn:
            row = await get(conn, municipality_id, service)
    else:
        row = await get(source, municipality_id, service)
    if row is None or not row.enabled:
        _cache.pop((municipality_id, service), None)
        return None
    mtime = _mtime_ns(row.key_file)
    cached = _cache.get((municipality_id, service))
    if cached and (cached.updated_at, cached.key_mtime_ns, cached.http) == (row.updated_at, mtime, http):
        return cached.client
    key = await asyncio.to_thread(read_key, row.key_file)
    client = MachineClient(_provider(row.issuer, http), row.client_id, key, row.scopes,
                           service=SERVICE_NAMES[service])  # fmt: skip
    _cache[(municipality_id, service)] = _Cached(row.updated_at, mtime, http, client)
    return client


async def connect(
    conn: AsyncConnection[Any], municipality_id: UUID, service: Service, *, http: httpx.AsyncClient
) -> tuple[MachineClient, str] | None:
    """The municipality's machine client for `service` and the service's FHIR base (None: no enabled client).
    Raises `ClientConfigError` when the key file cannot be read."""
    machine = await machine_client(conn, municipality_id, service, http=http)
    row = await get(conn, municipality_id, service) if machine is not None else None
    return None if machine is None or row is None else (machine, row.base_url)
