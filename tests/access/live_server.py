"""Helpers for access tests against real `tryggheim cloud serve` processes: staff of their own, clients bound to
distinct loopback addresses (a server sees the address a socket is bound to, and all of 127/8 is loopback on
Linux), and worklist event streams read in a thread."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from uuid import UUID

import httpx

from cloud.access import directory
from cloud.access.roles import Role
from cloud.db.pool import connect
from tests.support.proc import cloud_serve
from tests.support.tenants import PASSWORD, SEEDER, Tenant

# Tighter than the defaults so that the account and client limits are reached in a few requests.
THROTTLE_SETTINGS = {"TRYGGHEIM_LOGIN_ACCOUNT_FAILURES": "8", "TRYGGHEIM_LOGIN_CLIENT_FAILURES": "6"}
SERVER_SETTINGS = {
    "TRYGGHEIM_AUTH_MODE": "local",
    "TRYGGHEIM_COOKIE_SECURE": "false",
    "TRYGGHEIM_EVALUATION": "false",
    "TRYGGHEIM_ESCALATION": "false",
    **THROTTLE_SETTINGS,
}


@contextmanager
def servers(database_url: str, count: int, **settings: str) -> Iterator[list[str]]:
    """`count` cloud processes on one database, started side by side; yields their base URLs."""
    managers = [cloud_serve(database_url, **SERVER_SETTINGS, **settings) for _ in range(count)]
    with ThreadPoolExecutor(count) as pool:
        started = [pool.submit(manager.__enter__) for manager in managers]
    with ExitStack() as stack:
        for manager, future in zip(managers, started, strict=True):
            if future.exception() is None:
                stack.push(manager)
        yield [future.result() for future in started]


def new_staff(runtime_url: str, tenant: Tenant, role: Role = Role.NURSE) -> tuple[UUID, str]:
    """A staff member of the tenant's municipality with `PASSWORD`, named for this test alone."""
    username = f"{tenant.key}.{role.value}.{secrets.token_hex(4)}"

    async def add() -> UUID:
        async with await connect(runtime_url) as conn:
            teams = [tenant.teams["Nord"]] if role in {Role.NURSE, Role.TEAM_LEAD} else []
            return await directory.add_staff(
                conn, actor=SEEDER, municipality=tenant.municipality_id, username=username, display_name=username,
                role=role, team_ids=teams, password=PASSWORD,
            )  # fmt: skip

    return asyncio.run(add()), username


def client_from(address: str, base_url: str) -> httpx.Client:
    """An HTTP client whose connections come from `address` (127.0.0.x)."""
    return httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=address), timeout=30)


def sign_in(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    """POST /auth/login."""
    return client.post("/auth/login", json={"username": username, "password": password})


@dataclass
class Session:
    """A signed-in browser session: its cookie and CSRF token."""

    cookie: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        """Headers of a changing request in this session."""
        return {"Cookie": f"trygg_session={self.cookie}", "X-CSRF-Token": self.csrf}


def session_of(client: httpx.Client, username: str, password: str = PASSWORD) -> Session:
    """Sign in and return the session."""
    response = sign_in(client, username, password)
    assert response.status_code == 200, response.text
    return Session(response.cookies["trygg_session"], response.json()["csrf_token"])


@dataclass
class Stream:
    """GET /api/v1/worklist/events read in a thread. `ready` is set on the first event, `ended` when the server
    ends the stream (`ended_at` on the monotonic clock)."""

    base_url: str
    headers: dict[str, str]
    status: int = 0
    events: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    ended_at: float = 0.0

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()
        assert self.ready.wait(15), f"stream did not start: status {self.status}, events {self.events}"

    def _read(self) -> None:
        try:
            url = f"{self.base_url}/api/v1/worklist/events"
            with httpx.stream("GET", url, headers=self.headers, timeout=httpx.Timeout(30, read=60)) as response:
                self.status = response.status_code
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        self.events.append(line[7:])
                        self.ready.set()
        finally:
            self.ended_at = time.monotonic()
            self.ended.set()
            self.ready.set()

    def ends_within(self, seconds: float, since: float) -> float:
        """Wait for the end; return how long after `since` it came (fails if it did not)."""
        assert self.ended.wait(seconds), f"stream still open {seconds} s later; events {self.events}"
        return self.ended_at - since
