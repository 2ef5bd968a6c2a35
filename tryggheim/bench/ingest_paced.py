"""Ingest at a set pace: how long a gateway's upload takes when uploads arrive at a given rate (an open loop).

`tryggheim bench ingest` keeps a fixed number of uploads in flight, a closed loop: each answer lets the next
upload go, so it finds how fast the service can go but never asks it to go faster. Gateways do not wait for each
other. Here uploads arrive at random moments (exponential gaps, as from many independent gateways) at a set
rate, whatever the service's pace, and each upload's time counts from the moment it was due, not from when the
load generator got round to it: a service that falls behind shows it in the times (no coordinated omission).

One service process with its evaluation worker, on a private PostgreSQL, and the realistic mode's batches (1,000
gateways of two devices, 1-20 readings a batch). For each rate, lowest first: the rate offered and the rate
sent, the median, 90th and 99th percentile and the longest upload time, the most uploads in flight, how long
the last answers took after the offering stopped, the uploads refused (an answer other than 200) and the
arrivals not sent. A gateway has one upload in flight at a time, as the edge agent does, so each upload goes from
a gateway that has none; when every gateway is waiting, an arrival is not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import uvloop

from tryggheim.bench.ingest import BenchGateway, make_batch, replicas_on, setup_gateways
from tryggheim.bench.ingest_load import CpuSample, uploader

GATEWAYS = 1000
DEFAULT_RATES = (250.0, 500.0, 1000.0, 1500.0, 2000.0)
# Connections opened before the first upload; more are opened when every one is busy.
OPEN_CONNECTIONS = 32


def run(
    admin_url: str | None, rates: tuple[float, ...] = DEFAULT_RATES, seconds: float = 8.0, seed: int = 1,
    *, detection: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Set up, offer each rate for `seconds`, clean up; the JSON-able result."""
    from tryggheim.bench._database import bench_database

    with (
        bench_database(admin_url) as roles,
        replicas_on(roles, 1, detection=detection) as urls,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        gateways = runner.run(setup_gateways(roles.runtime_url, urls[0], GATEWAYS, 2))
        steps = runner.run(_offer(urls[0], gateways, rates, seconds, random.Random(seed)))  # noqa: S311 - load
    return {"benchmark": "ingest_paced", "seconds": seconds, "detection": detection, "cpus": os.cpu_count(),
            "gateways": GATEWAYS, "rates": steps}  # fmt: skip


async def _offer(
    base_url: str, gateways: list[BenchGateway], rates: tuple[float, ...], seconds: float, rng: random.Random
) -> list[dict[str, Any]]:
    start = datetime.now(UTC) - timedelta(days=1)
    async with contextlib.AsyncExitStack() as stack:
        idle: deque[Callable[[BenchGateway, bytes], Awaitable[None]]] = deque()

        async def connection() -> Callable[[BenchGateway, bytes], Awaitable[None]]:
            if idle:
                return idle.popleft()
            post: Callable[[BenchGateway, bytes], Awaitable[None]] = await stack.enter_async_context(uploader(base_url))
            return post

        for _ in range(OPEN_CONNECTIONS):
            idle.append(await stack.enter_async_context(uploader(base_url)))
        steps = []
        for rate in sorted(rates):
            steps.append(await _step(rate, seconds, gateways, start, rng, connection, idle))
    return steps


async def _step(
    rate: float, seconds: float, gateways: list[BenchGateway], start: datetime, rng: random.Random,
    connection: Callable[[], Awaitable[Callable[[BenchGateway, bytes], Awaitable[None]]]],
    idle: deque[Callable[[BenchGateway, bytes], Awaitable[None]]],
) -> dict[str, Any]:  # fmt: skip
    """Offer `rate` uploads a second for `seconds`; what it took."""
    # The bodies are made before the clock starts, as the closed-loop benchmark's are: each gateway's next ones
    # in its sequence, twice as many as it is likely to send (one more is made should it send more).
    each = int(rate * seconds / len(gateways) * 2) + 3
    bodies = {g.id: deque(_body(g, rng, start) for _ in range(each)) for g in gateways}
    free = list(gateways)
    rng.shuffle(free)
    times: list[float] = []
    refused = unsent = 0
    in_flight = most = 0

    async def upload(gateway: BenchGateway, due: float) -> None:
        nonlocal refused, in_flight
        waiting = bodies[gateway.id]
        body = waiting.popleft() if waiting else _body(gateway, rng, start)
        post = await connection()
        try:
            await post(gateway, body)
        except RuntimeError:
            refused += 1
        idle.append(post)
        times.append(time.perf_counter() - due)
        in_flight -= 1
        free.append(gateway)

    tasks: set[asyncio.Task[None]] = set()
    before = CpuSample.now()
    began = time.perf_counter()
    due = began
    while due < began + seconds:
        due += rng.expovariate(rate)
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        if not free:
            unsent += 1  # every gateway has an upload in flight: the service is far behind
            continue
        in_flight += 1
        most = max(most, in_flight)
        task = asyncio.create_task(upload(free.pop(), due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    offered_until = time.perf_counter()
    await asyncio.gather(*tasks)
    cpu = before.per_request(CpuSample.now(), len(times), time.perf_counter() - began)
    times.sort()
    return {
        "offered_per_s": rate,
        # What the generator managed to send while offering, and how long the last answers took after that.
        "sent_per_s": round(len(times) / (offered_until - began), 1),
        "drained_after_s": round(time.perf_counter() - offered_until, 2),
        "p50_ms": round(_at(times, 0.50) * 1000, 1),
        "p90_ms": round(_at(times, 0.90) * 1000, 1),
        "p99_ms": round(_at(times, 0.99) * 1000, 1),
        "max_ms": round(times[-1] * 1000, 1) if times else None,
        "most_in_flight": most,
        # Answered other than 200; and arrivals not sent, with every gateway waiting for an answer.
        "refused": refused,
        "unsent": unsent,
        "uploads": len(times),
        **cpu,
    }


def _body(gateway: BenchGateway, rng: random.Random, start: datetime) -> bytes:
    """The gateway's next batch, of 1-20 readings, as its JSON body."""
    return json.dumps(make_batch(gateway, rng.randint(1, 20), start)).encode()


def _at(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted values (nearest rank)."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
