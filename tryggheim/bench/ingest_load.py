"""The realistic ingest benchmark's load: the uploads, the raw limit from as many clients, and where the CPU went.

The load generator shares the machine's cores with the services and the database, so what it costs per request
is part of what is measured: `TRYGGHEIM_BENCH_CLIENT=light` (the default) speaks HTTP/1.1 over a plain asyncio
stream per connection (a request is one write and two reads), `httpx` uses httpx as before. The CPU of the
generator (this process), of the service processes (its children) and of the whole machine is read around the
run, so each figure comes with what it cost per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import psycopg

from cloud.db.pool import connect
from common.digits import plain_digits

CONCURRENCY = int(os.environ.get("TRYGGHEIM_BENCH_CONCURRENCY", "8"))
CLIENT = os.environ.get("TRYGGHEIM_BENCH_CLIENT", "light")
_TICK = os.sysconf("SC_CLK_TCK")


class _Gateway(Protocol):
    id: uuid.UUID
    credential: str


Work = Sequence[tuple[_Gateway, bytes, int]]
_Post = Callable[[_Gateway, bytes], Awaitable[None]]


@dataclass
class CpuSample:
    """CPU seconds so far: this process, its `tryggheim cloud serve` children, the benchmark's private PostgreSQL
    (its server processes that are still running) and the machine (busy, all cores)."""

    generator: float
    services: float
    database: float
    machine: float

    @classmethod
    def now(cls) -> CpuSample:
        """Read the four clocks."""
        services, database = _process_cpu()
        return cls(time.process_time(), services, database, _machine_busy())

    def per_request(self, later: CpuSample, requests: int, wall: float) -> dict[str, float]:
        """What the interval from this sample to `later` cost per request, and the machine's busy cores."""
        return {
            "generator_cpu_ms_per_request": round((later.generator - self.generator) / requests * 1000, 2),
            "service_cpu_ms_per_request": round((later.services - self.services) / requests * 1000, 2),
            "database_cpu_ms_per_request": round((later.database - self.database) / requests * 1000, 2),
            "machine_cpu_ms_per_request": round((later.machine - self.machine) / requests * 1000, 2),
            "machine_busy_cores": round((later.machine - self.machine) / wall, 2),
        }


def _process_cpu() -> tuple[float, float]:
    """User and system CPU of this process's `cloud serve` children (the benchmark's replicas), and of the
    private PostgreSQL's server processes (its postmaster, a child of this process, and the postmaster's
    children; zero with --admin-url)."""
    me = str(os.getpid())
    stats: dict[str, tuple[str, int, bytes]] = {}
    for proc in Path("/proc").iterdir():
        if plain_digits(proc.name):
            with contextlib.suppress(OSError):
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                stats[proc.name] = (fields[1], int(fields[11]) + int(fields[12]), (proc / "cmdline").read_bytes())
    postmasters = {pid for pid, (parent, _, cmdline) in stats.items() if parent == me and b"postgres" in cmdline}
    services = sum(ticks for parent, ticks, cmdline in stats.values() if parent == me and b"cloud\0serve" in cmdline)
    database = sum(ticks for pid, (parent, ticks, _) in stats.items() if pid in postmasters or parent in postmasters)
    return services / _TICK, database / _TICK


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine (all cores) since boot, from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / _TICK


async def drive(base_urls: list[str], work: Work) -> tuple[float, list[float], dict[str, float]]:
    """Send all batches with CONCURRENCY uploads in flight, spread over the replicas; returns wall time,
    latencies and the CPU per request. A gateway uploads one batch at a time, in order, as the edge agent does:
    each gateway belongs to one sender (concurrent batches of one gateway would only queue on its ingest lock)."""
    lanes: list[list[tuple[_Gateway, bytes, int]]] = [[] for _ in range(CONCURRENCY)]
    owner: dict[uuid.UUID, int] = {}
    for item in work:
        lanes[owner.setdefault(item[0].id, len(owner) % CONCURRENCY)].append(item)
    latencies: list[float] = []

    async def sender(post: _Post, lane: list[tuple[_Gateway, bytes, int]]) -> None:
        for gateway, body, _ in lane:
            started = time.perf_counter()
            await post(gateway, body)
            latencies.append(time.perf_counter() - started)

    async with contextlib.AsyncExitStack() as stack:
        posts = [await stack.enter_async_context(uploader(base_urls[i % len(base_urls)])) for i in range(len(lanes))]
        before, started = CpuSample.now(), time.perf_counter()
        await asyncio.gather(*(sender(post, lane) for post, lane in zip(posts, lanes, strict=True)))
        wall = time.perf_counter() - started
        cpu = before.per_request(CpuSample.now(), len(work), wall)
    return wall, latencies, cpu


@contextlib.asynccontextmanager
async def uploader(base_url: str) -> Any:
    """One keep-alive connection to a replica, as a `post(gateway, body)` that raises unless 200."""
    if CLIENT == "httpx":
        # Without TCP_NODELAY the body's second segment waits for the server's delayed ACK (about 40 ms).
        transport = httpx.AsyncHTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        async with httpx.AsyncClient(base_url=base_url, timeout=120, transport=transport) as client:

            async def post_httpx(gateway: _Gateway, body: bytes) -> None:
                headers = {"Authorization": f"Bearer {gateway.credential}", "Content-Type": "application/json"}
                (await client.post("/api/v1/ingest", content=body, headers=headers)).raise_for_status()

            yield post_httpx
        return
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = f"POST /api/v1/ingest HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"

    async def post_light(gateway: _Gateway, body: bytes) -> None:
        writer.write(
            f"{head}Authorization: Bearer {gateway.credential}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next(int(line[15:]) for line in lines if line[:15].lower() == "content-length:")
        answer = await reader.readexactly(length)
        if lines[0].split(" ", 2)[1] != "200":
            raise RuntimeError(f"ingest answered {lines[0]}: {answer[:300]!r}")

    try:
        yield post_light
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


_RAW_TYPES = ["uuid", "uuid", "int8", "uuid", "uuid", "text", "float8", "text", "timestamptz", "timestamptz",
              "timestamptz", "bool"]  # fmt: skip
_RAW_COPY = (
    "COPY observations (gateway_id, outbox_epoch, seq, device_id, patient_id, metric, value, unit, t, measured_at, "
    "received_at, backfilled) FROM STDIN (FORMAT BINARY)"
)


async def raw_copy(
    runtime_url: str, batches: list[list[tuple[Any, ...]]], clients: int
) -> tuple[float, float, dict[str, float]]:
    """The same batches, one binary COPY and commit each, from `clients` connections at once (as many as the
    load generator has uploads in flight); rows and batches per second, and the database's and the machine's
    CPU per batch (what the service's figures per request are measured against)."""

    async def lane(conn: psycopg.AsyncConnection[Any], mine: list[list[tuple[Any, ...]]]) -> None:
        for batch in mine:
            async with conn.cursor() as cur, cur.copy(_RAW_COPY) as copy:
                copy.set_types(_RAW_TYPES)
                for row in batch:
                    await copy.write_row(row)
            await conn.commit()

    async with contextlib.AsyncExitStack() as stack:
        conns = [await stack.enter_async_context(await connect(runtime_url, autocommit=False)) for _ in range(clients)]
        before, started = CpuSample.now(), time.perf_counter()
        await asyncio.gather(*(lane(conn, batches[i::clients]) for i, conn in enumerate(conns)))
        wall = time.perf_counter() - started
        cpu = before.per_request(CpuSample.now(), len(batches), wall)
    per_batch = {
        "raw_copy_database_cpu_ms_per_batch": cpu["database_cpu_ms_per_request"],
        "raw_copy_machine_cpu_ms_per_batch": cpu["machine_cpu_ms_per_request"],
    }
    return sum(len(b) for b in batches) / wall, len(batches) / wall, per_batch
