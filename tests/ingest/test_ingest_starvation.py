"""One gateway cannot starve the service (issue 17, finding 2), against a real `tryggheim cloud serve`.

The probe's attack: sockets that send ingest headers with a valid gateway credential and
`Content-Length: 100000`, then nothing. Each used to hold a pooled connection while its body never came,
so nurses got `503 Storage unavailable (PoolTimeout)` and `/readyz` failed. Now the body is read with a
deadline before ingest takes a connection, a gateway has one upload in flight, and gateway traffic has
connections of its own.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import psycopg
import pytest
from fastapi import APIRouter

from cloud.access import directory, route_check, tokens
from cloud.access.policy import gateway_only
from cloud.access.roles import Role
from cloud.db.pool import connect
from cloud.gateways.credentials import GatewayPrincipal
from cloud.requests import Conn
from tests.support.kits import Kit, batch, enrol_kit, reading
from tests.support.proc import cloud_serve
from tests.support.services import TestDatabase
from tests.support.tenants import SEEDER, insert_patient

BODY_TIMEOUT_S = 2.0
STALLED = 20
BLOCKED = 12  # more uploads than the staff pool has connections (10 by default)
P99_LIMIT_S = 0.5


@dataclass
class Service:
    """A real service, a nurse's bearer header and gateways enrolled through the service."""

    url: str
    nurse: dict[str, str]
    kits: list[Kit]


async def _nurse(url: str) -> tuple[UUID, UUID, dict[str, str]]:
    """The municipality, its `Nord` team and the bearer header of a nurse in it."""
    async with await connect(url) as conn:
        municipality = await directory.ensure_municipality(conn, "0301", "Oslo")
        team = await directory.ensure_team(conn, municipality, "Nord", actor=SEEDER)
        nurse = await directory.add_staff(
            conn, actor=SEEDER, municipality=municipality, username="starved.nurse", display_name="Nurse",
            role=Role.NURSE, team_ids=[team], password=None,
        )  # fmt: skip
        _token, token = await tokens.issue(
            conn, SEEDER, staff_id=nurse, municipality_id=municipality, label="tests", lifetime=timedelta(days=1)
        )
        return municipality, team, {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def service(ingest_db: TestDatabase) -> Iterator[Service]:
    municipality, team, nurse = asyncio.run(_nurse(ingest_db.runtime_url))
    patient = insert_patient(ingest_db.runtime_url, municipality, team, "Pasient")
    with (
        # As many ingest writers as blocked uploads, so that they can hold every gateway connection at once.
        cloud_serve(
            ingest_db.runtime_url, TRYGGHEIM_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S), TRYGGHEIM_INGEST_WRITERS=str(BLOCKED)
        ) as url,  # fmt: skip
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        kits = [enrol_kit(client, ingest_db.runtime_url, municipality, patient) for _ in range(2 + BLOCKED)]  # type: ignore[arg-type]
        yield Service(url, nurse, kits)


def _stall(url: str, credential: str, path: str = "/api/v1/ingest") -> socket.socket:
    """Open a connection, send request headers and the start of a 100,000-byte body, then nothing."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {credential}\r\n"
        'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"epoch": "'.encode()
    )
    return sock


def _answer(sock: socket.socket, wait_s: float) -> tuple[int | None, dict[str, str]]:
    """Status and headers the server sent on a stalled socket within `wait_s`; (-1, {}) while it still holds
    the socket unanswered, (None, {}) when it closed it without an answer."""
    sock.settimeout(wait_s)
    try:
        head = sock.recv(65536).split(b"\r\n\r\n")[0].decode()
    except TimeoutError:
        return -1, {}
    finally:
        sock.close()
    if not head.startswith("HTTP/1.1 "):
        return None, {}
    lines = head.split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers


def _poll(client: httpx.Client, nurse: dict[str, str], latencies: list[float], statuses: list[int]) -> None:
    """One round of what must keep answering: the nurse's worklist and the readiness check."""
    for path, headers in (("/api/v1/worklist", nurse), ("/readyz", {})):
        started = time.perf_counter()
        statuses.append(client.get(path, headers=headers).status_code)
        latencies.append(time.perf_counter() - started)


def _p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98]


@pytest.mark.slow
def test_stalled_uploads_leave_nurses_and_readiness_alone(service: Service) -> None:
    attacked, other = service.kits[:2]
    sockets = [_stall(service.url, attacked.credential) for _ in range(STALLED)]
    # Every route's body has the deadline, also where the framework reads it before the handler runs.
    heartbeat = _stall(service.url, attacked.credential, f"/api/v1/gateways/{attacked.gateway_id}/status")
    latencies: list[float] = []
    statuses: list[int] = []
    ingested = None
    with httpx.Client(base_url=service.url, timeout=30) as client:
        ends = time.monotonic() + BODY_TIMEOUT_S + 1.5
        while time.monotonic() < ends:
            _poll(client, service.nurse, latencies, statuses)
            if ingested is None:  # another gateway delivers normally during the attack
                ingested = client.post("/api/v1/ingest", json=batch(other, [reading(1, other.scale)]),
                                       headers=other.auth)  # fmt: skip
    answers = [_answer(sock, wait_s=2.0) for sock in sockets]
    assert _answer(heartbeat, wait_s=2.0)[0] == 408

    assert set(statuses) == {200}, statuses
    assert _p99(latencies) < P99_LIMIT_S, f"p99 {_p99(latencies):.3f} s over {len(latencies)} requests"
    assert ingested is not None and ingested.status_code == 200, ingested.text if ingested else None
    # One upload of the attacked gateway was in flight and ran out of time; every other one was refused at once
    # and told when to retry.
    assert sorted(status or 0 for status, _ in answers) == [408] + [429] * (STALLED - 1), answers
    assert all(1 <= int(headers["retry-after"]) <= BODY_TIMEOUT_S + 1 for status, headers in answers if status == 429)
    assert all(headers["x-content-type-options"] == "nosniff" for _, headers in answers), answers
    # The timed-out upload freed the gateway's slot: the attacked gateway itself delivers again.
    again = httpx.post(f"{service.url}/api/v1/ingest", json=batch(attacked, [reading(1, attacked.scale)]),
                       headers=attacked.auth, timeout=30)  # fmt: skip
    assert again.status_code == 200, again.text


@pytest.mark.slow
def test_gateway_traffic_cannot_take_the_staff_connections(service: Service, ingest_db: TestDatabase) -> None:
    """Twelve ingests blocked inside the database (a lock on `observations`) hold every connection gateway
    traffic may use; the nurse's worklist and `/readyz` answer from connections of their own."""
    latencies: list[float] = []
    statuses: list[int] = []
    with ThreadPoolExecutor(BLOCKED) as uploads, httpx.Client(base_url=service.url, timeout=30) as client:
        with psycopg.connect(ingest_db.owner_url) as lock:
            lock.execute("LOCK TABLE observations IN EXCLUSIVE MODE")
            pending = [
                uploads.submit(httpx.post, f"{service.url}/api/v1/ingest", json=batch(kit, [reading(1, kit.scale)]),
                               headers=kit.auth, timeout=60)
                for kit in service.kits[2:]
            ]  # fmt: skip
            time.sleep(1.0)  # the uploads are now waiting on the lock, each holding a connection
            metrics = client.get("/metrics").text
            ends = time.monotonic() + 1.5
            while time.monotonic() < ends:
                _poll(client, service.nurse, latencies, statuses)
            lock.rollback()
        results = [future.result().status_code for future in pending]
    # Every gateway connection was taken while the nurse was served.
    assert 'tryggheim_db_gateway_pool{state="available"} 0.0' in metrics, metrics
    assert set(statuses) == {200}, statuses
    assert _p99(latencies) < P99_LIMIT_S, f"p99 {_p99(latencies):.3f} s over {len(latencies)} requests"
    assert results == [200] * BLOCKED, results


def test_a_gateway_route_cannot_take_a_staff_connection() -> None:
    """The separation holds for routes yet to be written: the application refuses to start with one."""
    router = APIRouter()

    @router.post("/api/v1/gateways/{gateway_id}/new")
    async def new(gateway_id: UUID, conn: Conn, gateway: Annotated[GatewayPrincipal, gateway_only()]) -> None:
        """A future gateway route that took the wrong connection."""

    with pytest.raises(RuntimeError, match="staff-pool connection"):
        route_check.mark(router)
