"""What the tamper-evident audit chain costs per audited request.

Compares, on the same database in one run: an append to the hash chain (`cloud.access.audit.write`:
advisory lock, read of the previous hash, insert, commit) against a plain insert of the same record with
its own commit, sequentially and with several concurrent writers on one municipality's chain.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from typing import Any

import psycopg

from cloud.access import audit
from cloud.db.pool import connect


def _record(municipality: uuid.UUID) -> audit.AuditRecord:
    return audit.AuditRecord(
        municipality_id=municipality,
        principal_kind="staff",
        principal_id=str(uuid.uuid4()),
        role="nurse",
        action="patient.read",
        resource="GET /api/v1/patients/x",
        outcome="allowed",
        correlation_id=uuid.uuid4().hex,
        patient_id=uuid.uuid4(),
    )


async def _chained(conn: psycopg.AsyncConnection[Any], municipality: uuid.UUID, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await audit.write(conn, _record(municipality))
        times.append(time.perf_counter() - started)
    return times


async def _plain(conn: psycopg.AsyncConnection[Any], municipality: uuid.UUID, n: int) -> list[float]:
    times = []
    for _ in range(n):
        record = _record(municipality)
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO audit_log (at, municipality_id, principal_kind, principal_id, role, team_ids, patient_id, "
                "action, resource, reason, outcome, correlation_id, prev_hash, hash) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (*record.values(), audit.GENESIS, audit.GENESIS),
            )
        times.append(time.perf_counter() - started)
    return times


async def _run(url: str, n: int, writers: int) -> dict[str, Any]:
    municipality = uuid.uuid4()
    conns = [await connect(url) for _ in range(writers)]
    try:
        plain = await _plain(conns[0], municipality, n)
        chained = await _chained(conns[0], municipality, n)
        started = time.perf_counter()
        per_writer = n // writers
        await asyncio.gather(*(_chained(c, municipality, per_writer) for c in conns))
        concurrent_rate = per_writer * writers / (time.perf_counter() - started)
    finally:
        for conn in conns:
            await conn.close()
    p50_plain, p50_chain = statistics.median(plain) * 1000, statistics.median(chained) * 1000
    return {
        "benchmark": "audit_chain",
        "writes": n,
        "plain_insert_p50_ms": round(p50_plain, 3),
        "chained_write_p50_ms": round(p50_chain, 3),
        "chained_write_p99_ms": round(statistics.quantiles(chained, n=100)[98] * 1000, 3),
        "chain_overhead_ms": round(p50_chain - p50_plain, 3),
        "concurrent_writers": writers,
        "concurrent_chained_writes_per_s": round(concurrent_rate, 1),
        "cpus": os.cpu_count(),
    }


def run(url: str | None, n: int = 2000, writers: int = 4) -> dict[str, Any]:
    """Run on `url` (a superuser URL) or on a private PostgreSQL; returns the JSON-able result."""
    from tryggheim.bench._database import bench_database

    with bench_database(url) as roles:
        return asyncio.run(_run(roles.runtime_url, n, writers))


def main(url: str | None = None, n: int = 2000) -> None:
    """Print the result as one JSON line."""
    print(json.dumps(run(url, n)))  # noqa: T201 - a benchmark prints its line
