"""The ingest transaction alone: what one group of small batches costs the service and the database.

`tryggheim bench ingest` measures the whole machine under load, where the service processes, the database
and the load generator compete for the cores and the figures move by a fifth from run to run. This benchmark
calls `store_group` (cloud/ingest/store.py) directly, one group after another on one connection, with groups
of `group_batches` realistic batches (1-20 readings each, of different gateways, as the ingest writers form
them), and reads what each group cost: this process's CPU (the service's side of the transaction, including
building the batches), the database backend's CPU (read from /proc, so only for a server on this machine) and
the wall time. Without contention these figures repeat within about a tenth, so a change to the statements or
their round trips shows here when the HTTP benchmark's noise hides it.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvloop

from cloud.access.secrets import token_digest
from cloud.db.pool import connect
from cloud.db.provision import Provisioned
from cloud.ingest.store import Upload, store_group
from cloud.ingest.validate import ValidReading, validate
from device_profiles import load_catalogue
from tryggheim.bench.ingest import BenchGateway, analyze, make_batch, replicas_on, setup_gateways

_TICK = os.sysconf("SC_CLK_TCK")


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds of a database backend on this machine; None when it is not here."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


async def _measure(roles: Provisioned, base_url: str, gateways: int, group_batches: int, rounds: int) -> dict[str, Any]:
    enrolled = await setup_gateways(roles.runtime_url, base_url, gateways, 2)
    await analyze(roles.owner_url)
    catalogue = load_catalogue()
    rng = random.Random(1)  # noqa: S311 - reproducible load, not security
    start = datetime.now(UTC) - timedelta(days=1)
    async with await connect(roles.runtime_url) as conn:
        row = await (await conn.execute("SELECT municipality_id FROM gateways LIMIT 1")).fetchone()
        assert row is not None
        municipality = row[0]

        def upload(gateway: BenchGateway) -> Upload:
            body = make_batch(gateway, rng.randint(1, 20), start)
            now = datetime.now(UTC)
            readings = [validate(r, catalogue, now) for r in body["observations"]]
            valid = [r for r in readings if isinstance(r, ValidReading)]
            assert len(valid) == len(readings), "the benchmark's readings are all valid"
            return Upload(
                gateway.id, municipality, uuid.UUID(body["epoch"]), valid, [], token_digest(gateway.credential)
            )

        async def one_round() -> int:
            groups = 0
            for first in range(0, gateways - group_batches + 1, group_batches):
                await store_group(conn, [upload(g) for g in enrolled[first : first + group_batches]])
                groups += 1
            return groups

        await one_round()  # warm-up: statements prepared, caches filled
        pid = conn.info.backend_pid
        cpu, backend, wall = time.process_time(), _backend_cpu(pid), time.perf_counter()
        groups = sum([await one_round() for _ in range(rounds)])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        backend_after = _backend_cpu(pid)
    per_group = 1_000_000 / groups
    return {
        "benchmark": "ingest_store",
        "group_batches": group_batches,
        "groups": groups,
        "service_cpu_us_per_group": round(cpu * per_group),
        "database_cpu_us_per_group": None
        if backend is None or backend_after is None
        else round((backend_after - backend) * per_group),
        "wall_us_per_group": round(wall * per_group),
        "cpus": os.cpu_count(),
    }


def run(admin_url: str | None, gateways: int, group_batches: int, rounds: int) -> dict[str, Any]:
    """Set up (a private PostgreSQL unless `admin_url`, one service process for the enrolment), measure, clean up."""
    from tryggheim.bench._database import bench_database

    with bench_database(admin_url) as roles, replicas_on(roles, 1, detection=False) as urls:
        return uvloop.run(_measure(roles, urls[0], gateways, group_batches, rounds))
