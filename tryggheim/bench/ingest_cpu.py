"""The service's own cost per ingest batch, in process and without contention.

`tryggheim bench ingest` measures the whole machine (service, database and load generator share the cores),
which is what a deployment sees but not where the time goes. This benchmark sends batches one at a time to
the application in this process (httpx's ASGI transport, no sockets for HTTP, the real database) on the
service's event loop and garbage-collection settings, and reports per batch: process CPU time (this
process only: the service's Python and libpq), wall time (including the database's work), and the time spent
in garbage collection. Two sizes: 1,000 readings (bulk) and 10 (a typical home's batch, where round trips
dominate).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvloop

from cloud.app import create_app
from cloud.config import CloudSettings
from cloud.db.pool import make_pool
from cloud.serve import tune_gc
from tryggheim.bench.ingest import cloud_service, make_batch, setup_gateways

WARM_UP = 5


class _GcClock:
    """Time spent in collections while `running`."""

    def __init__(self) -> None:
        self.running = False
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if not self.running:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


async def _measure(runtime_url: str, base_url: str, batches: int) -> dict[str, Any]:
    [gateway] = await setup_gateways(runtime_url, base_url, 1, 100)
    start = datetime.now(UTC) - timedelta(days=1)
    settings = CloudSettings(database_url=runtime_url, evaluation=False, escalation=False)
    pool = make_pool(runtime_url, min_size=1, max_size=2, timeout_s=10)
    app = create_app(pool, settings)
    clock = _GcClock()
    gc.callbacks.append(clock)
    results: dict[str, Any] = {}
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
        ):
            headers = {"Authorization": f"Bearer {gateway.credential}", "Content-Type": "application/json"}
            tune_gc()
            for size in (1000, 10):
                count = batches if size == 1000 else batches * 10
                bodies = [json.dumps(make_batch(gateway, size, start)).encode() for _ in range(count + WARM_UP)]
                for body in bodies[:WARM_UP]:
                    (await client.post("/api/v1/ingest", content=body, headers=headers)).raise_for_status()
                clock.seconds, clock.running = 0.0, True
                cpu, wall = time.process_time(), time.perf_counter()
                for body in bodies[WARM_UP:]:
                    (await client.post("/api/v1/ingest", content=body, headers=headers)).raise_for_status()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                clock.running = False
                results[f"batch_{size}"] = {
                    "batches": count,
                    "cpu_ms": round(cpu / count * 1000, 2),
                    "wall_ms": round(wall / count * 1000, 2),
                    "gc_ms": round(clock.seconds / count * 1000, 3),
                }
    finally:
        gc.callbacks.remove(clock)
    return results


def run(admin_url: str | None, batches: int) -> dict[str, Any]:
    """Set up a private database (and one service process for the enrolment), measure, clean up."""
    with (
        cloud_service(admin_url, 1, detection=False) as (runtime_url, urls),
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        figures = runner.run(_measure(runtime_url, urls[0], batches))
    return {"benchmark": "ingest_cpu", **figures, "event_loop": "uvloop", "cpus": os.cpu_count()}
