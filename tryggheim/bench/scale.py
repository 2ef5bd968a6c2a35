"""Scale-out: the same ingest load against 1, 2 and 3 real `tryggheim cloud serve` processes on one database.

For each process count, a fresh migrated database (a private PostgreSQL unless given a superuser URL) and that
many service processes (detection on, as deployed); `gateways` gateways enrolled through the real flow, each
sending `rounds` realistic batches (1-20 readings, seeded) one after another, `IN_FLIGHT` uploads in flight,
spread round-robin over the processes. Reports requests and readings per second per process count and the core
count, and asserts nothing: on a machine with fewer cores than processes (2 here, the load generator and
PostgreSQL on the same cores) a third process is not expected to add throughput.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tryggheim.bench.ingest import cloud_service, make_batch, setup_gateways

IN_FLIGHT = int(os.environ.get("TRYGGHEIM_BENCH_CONCURRENCY", "16"))


async def _send_all(base_urls: list[str], lanes: list[list[tuple[str, bytes, int]]]) -> tuple[float, int, int]:
    """Each lane sends its batches in order (a gateway belongs to one lane), lane i to process i mod n; returns
    wall time, requests and readings."""
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    # Without TCP_NODELAY the body's second segment waits for the server's delayed ACK (about 40 ms).
    options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    clients = [
        httpx.AsyncClient(base_url=url, timeout=120,
                          transport=httpx.AsyncHTTPTransport(limits=limits, socket_options=options))
        for url in base_urls
    ]  # fmt: skip

    async def lane(client: httpx.AsyncClient, work: list[tuple[str, bytes, int]]) -> None:
        for credential, body, _ in work:
            headers = {"Authorization": f"Bearer {credential}", "Content-Type": "application/json"}
            (await client.post("/api/v1/ingest", content=body, headers=headers)).raise_for_status()

    try:
        started = time.perf_counter()
        await asyncio.gather(*(lane(clients[i % len(clients)], work) for i, work in enumerate(lanes)))
        wall = time.perf_counter() - started
    finally:
        for client in clients:
            await client.aclose()
    return wall, sum(len(w) for w in lanes), sum(n for w in lanes for _, _, n in w)


async def _measure(runtime_url: str, base_urls: list[str], gateway_count: int, rounds: int) -> dict[str, Any]:
    rng = random.Random(1)  # noqa: S311 - the same reproducible load for every process count, not security
    gateways = await setup_gateways(runtime_url, base_urls[0], gateway_count, 2)
    start = datetime.now(UTC) - timedelta(days=1)
    lanes: list[list[tuple[str, bytes, int]]] = [[] for _ in range(IN_FLIGHT)]
    for _ in range(rounds):
        for g, gateway in enumerate(gateways):
            size = rng.randint(1, 20)
            body = json.dumps(make_batch(gateway, size, start)).encode()
            lanes[g % IN_FLIGHT].append((gateway.credential, body, size))
    wall, requests, readings = await _send_all(base_urls, lanes)
    return {"requests_per_s": round(requests / wall, 1), "readings_per_s": round(readings / wall),
            "requests": requests, "readings": readings, "wall_s": round(wall, 2)}  # fmt: skip


def run(admin_url: str | None, processes: int = 3, gateways: int = 300, rounds: int = 10) -> dict[str, Any]:
    """Measure 1 to `processes` service processes, each count on its own fresh database; the JSON-able result."""
    result: dict[str, Any] = {
        "benchmark": "scale",
        "gateways": gateways,
        "rounds": rounds,
        "in_flight": IN_FLIGHT,
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
    }
    for count in range(1, processes + 1):
        with cloud_service(admin_url, count) as (runtime_url, urls):
            result[f"processes_{count}"] = asyncio.run(_measure(runtime_url, urls, gateways, rounds))
    load = os.getloadavg()[0]
    return {**result, "cpus": os.cpu_count(), "load_avg_1m_after": round(load, 2)}
