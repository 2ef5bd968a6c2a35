"""Ingest throughput through the real HTTP endpoint, against the raw limit on the same database.

Starts a private PostgreSQL (unless given a superuser URL) and real `tryggheim cloud serve` processes (`REPLICAS`),
enrols gateways through the real flow, then:
- `bulk`: 8 gateways with 100 devices each, batches of 1,000 readings, one upload in flight per gateway;
- `realistic`: >= 1,000 gateways, 1-20 readings per batch, 5% of batches sent twice.
The raw limit is the same batches, one binary COPY plus commit each, into the same table with the same
indexes, from as many connections at once as the load generator has uploads in flight:
`ratio = readings_per_s / raw_copy_rows_per_s`. With detection on, the raw limit is measured once the services'
evaluation workers have caught up (`detection_lag_s`: how long after the last answer the queue of due
evaluations was empty, which includes up to one 5 s poll of the workers, since ordinary readings do not wake
them; until 2026-12-04 the raw path ran while they were still working, which cost it up to half its rate).
Each line also says what a request cost in CPU: the load generator's, the services' and the whole machine's
(tryggheim/bench/ingest_load.py), and how many batches the services stored per transaction (group commit);
and what a raw batch cost the database and the machine. On a machine the services share with the database
`ratio` weighs the services' Python against the database's COPY; the database's CPU per request against its
CPU per raw batch says how much of a database's capacity the ingest path leaves, which is what bounds a
deployment whose services run on machines of their own.

The set-up fills the registry (1,000 homes, gateways and patients, 2,000 devices) seconds before the run;
the tables are then analysed, as autovacuum does within a minute on a running system, so the look-ups are
planned from the tables as they are. Until 2026-12-04 they were not: with the statistics of empty tables
every ingest look-up by address read all of the municipality's devices (about 40 buffers instead of 3).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import uvloop

from cloud.db.pool import connect
from cloud.db.provision import Provisioned
from cloud.gateways import credentials, devices
from device_profiles import wire
from device_profiles.wire import WireReading
from tryggheim.bench.ingest_load import CLIENT, CONCURRENCY, drive, raw_copy

# One service process per core that the database leaves (each is a full replica with its own pool and evaluation
# worker; the load generator spreads the uploads over them): the database shares this machine, so on two cores
# one replica. One per core oversubscribed the machine: two Python processes and the database's backends took
# turns on two cores, each request cost about 40 % more CPU, and both the old and the new code ran faster with
# one (docs/benchmarks.md, issue 25, seventh round). `TRYGGHEIM_BENCH_REPLICAS` sets the number.
REPLICAS = int(os.environ.get("TRYGGHEIM_BENCH_REPLICAS", str(max(1, (os.cpu_count() or 1) - 1))))


@dataclass
class BenchGateway:
    """A gateway the benchmark enrolled: its credential, device addresses, outbox epoch and next sequence."""

    id: uuid.UUID
    credential: str
    addresses: list[str]
    epoch: str
    next_seq: int = 1


async def setup_gateways(runtime_url: str, base_url: str, gateways: int, devices_each: int) -> list[BenchGateway]:
    """Municipality, patients, homes; gateways enrolled over HTTP; devices registered and assigned."""
    since = datetime.now(UTC) - timedelta(days=30)
    result: list[BenchGateway] = []
    async with (
        await connect(runtime_url) as conn,
        httpx.AsyncClient(base_url=base_url, timeout=60) as client,
    ):
        row = await (
            await conn.execute("INSERT INTO municipalities (kommunenummer, name) VALUES ('0301', 'Bench') RETURNING id")
        ).fetchone()
        assert row is not None
        municipality = row[0]
        for g in range(gateways):
            home = await (
                await conn.execute(
                    "INSERT INTO homes (municipality_id, address) VALUES (%s, %s) RETURNING id",
                    (municipality, f"Vei {g}"),
                )
            ).fetchone()
            patient = await (
                await conn.execute(
                    "INSERT INTO patients (municipality_id, home_id, display_name, lifecycle) "
                    "VALUES (%s, %s, %s, 'active') RETURNING id",
                    (municipality, home[0] if home else None, f"Pasient {g}"),
                )
            ).fetchone()
            assert home is not None and patient is not None
            code, _ = await credentials.create_code(conn, home[0])
            enrolled = (await client.post("/api/v1/gateways/enrol", json={"code": code})).json()
            gateway = BenchGateway(uuid.UUID(enrolled["gateway_id"]), enrolled["credential"], [], str(uuid.uuid4()))
            for d in range(devices_each):
                address = f"{g:06d}:{d:04d}"
                device = await devices.register(
                    conn, gateway_id=gateway.id, address=address, profile_id="and-uc-352ble", valid_from=since
                )
                await devices.assign(conn, device_id=device, patient_id=patient[0], valid_from=since)
                gateway.addresses.append(address)
            result.append(gateway)
    return result


def make_batch(gateway: BenchGateway, size: int, start: datetime) -> dict[str, Any]:
    """An ingest body of `size` weight readings over the gateway's devices, continuing its sequence."""
    readings = []
    for i in range(size):
        seq = gateway.next_seq
        gateway.next_seq += 1
        moment = start + timedelta(milliseconds=seq)
        reading = WireReading(
            seq=seq,
            device=gateway.addresses[i % len(gateway.addresses)],
            metric="body.weight",
            value=round(60 + (seq % 400) / 10, 1),
            unit="kg",
            measured_at=moment,
            received_at=moment,
        )
        readings.append(reading.encode(omit_empty_context=True))  # fmt: skip
    return wire.batch(gateway.epoch, readings)


def _raw_rows(runtime_url: str, payloads: list[dict[str, Any]], gateway: BenchGateway) -> list[list[tuple[Any, ...]]]:
    with psycopg.connect(runtime_url) as conn:
        ids: dict[str, uuid.UUID] = dict(conn.execute("SELECT d.address, d.id FROM devices d").fetchall())
        patient = conn.execute("SELECT patient_id FROM device_assignments LIMIT 1").fetchone()
    assert patient is not None
    epoch = uuid.uuid4()  # new delivery keys: the raw path must not collide with what ingest stored
    out = []
    seq = 0
    for payload in payloads:
        rows = []
        for r in payload["observations"]:
            seq += 1
            moment = datetime.fromisoformat(r["measured_at"])
            rows.append((gateway.id, epoch, seq, ids[r["device"]], patient[0], r["metric"], r["value"], r["unit"],
                         moment, moment, moment, False))  # fmt: skip
        out.append(rows)
    return out


async def _detection_lag(runtime_url: str, limit_s: float = 300.0) -> float:
    """Seconds until no evaluation is due any more (the workers have caught up with what was stored)."""
    started = time.perf_counter()
    async with await connect(runtime_url) as conn:
        while time.perf_counter() - started < limit_s:
            row = await (
                await conn.execute("SELECT count(*) FROM pending_evaluations WHERE retry_at <= now()")
            ).fetchone()
            if row is None or row[0] == 0:
                break
            await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def _batches_per_group(base_urls: list[str]) -> float | None:
    """Mean batches per ingest transaction over the replicas, from their /metrics."""
    count = total = 0.0
    async with httpx.AsyncClient(timeout=10) as client:
        for url in base_urls:
            for line in (await client.get(f"{url}/metrics")).text.splitlines():
                if line.startswith("tryggheim_ingest_group_batches_count "):
                    count += float(line.split()[1])
                elif line.startswith("tryggheim_ingest_group_batches_sum "):
                    total += float(line.split()[1])
    return round(total / count, 2) if count else None


def _duplicates_stored(runtime_url: str) -> int:
    with psycopg.connect(runtime_url) as conn:
        row = conn.execute(
            "SELECT count(*) - count(DISTINCT (gateway_id, outbox_epoch, seq)) FROM observations"
        ).fetchone()
    return int(row[0]) if row else -1


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) >= 2 else values[0] * 1000


async def analyze(owner_url: str) -> None:
    """Update the planner's statistics after the set-up, as autovacuum would (the owner may; the service's
    role may not)."""
    async with await connect(owner_url) as conn:
        await conn.execute("ANALYZE")


async def _measure(mode: str, roles: Provisioned, base_urls: list[str], seed: int, detection: bool) -> dict[str, Any]:
    runtime_url = roles.runtime_url
    rng = random.Random(seed)  # noqa: S311 - reproducible load, not security
    start = datetime.now(UTC) - timedelta(days=1)
    if mode == "bulk":
        # One gateway per concurrent upload: a gateway sends its batches one after another.
        gateways = await setup_gateways(runtime_url, base_urls[0], CONCURRENCY, 100)
        payloads = [make_batch(gateways[i % CONCURRENCY], 1000, start) for i in range(200)]
        work = [(gateways[i % CONCURRENCY], json.dumps(p).encode(), 1000) for i, p in enumerate(payloads)]
        raw_gateway = gateways[0]
    else:
        gateways = await setup_gateways(runtime_url, base_urls[0], 1000, 2)
        work, payloads = [], []
        for _ in range(6):
            for gateway in gateways:
                size = rng.randint(1, 20)
                payload = make_batch(gateway, size, start)
                body = json.dumps(payload).encode()
                work.append((gateway, body, size))
                payloads.append(payload)
                if rng.random() < 0.05:
                    work.append((gateway, body, size))  # a re-sent batch: must be stored once
        rng.shuffle(work)
        raw_gateway = gateways[0]
    await analyze(roles.owner_url)
    wall, latencies, cpu = await drive(base_urls, work)
    lag = await _detection_lag(runtime_url) if detection else None
    readings = sum(n for _, _, n in work)
    raw_rate, raw_batches, raw_cpu = await raw_copy(
        runtime_url, _raw_rows(runtime_url, payloads, raw_gateway), CONCURRENCY
    )
    rate = readings / wall
    return {
        "mode": mode,
        "readings_per_s": round(rate),
        "requests_per_s": round(len(work) / wall, 1),
        "detection_lag_s": None if lag is None else round(lag, 2),
        "batches_per_group": await _batches_per_group(base_urls),
        "raw_copy_rows_per_s": round(raw_rate),
        "raw_copy_batches_per_s": round(raw_batches, 1),
        **raw_cpu,
        "ratio": round(rate / raw_rate, 3),
        "batch_p50_ms": round(_percentile(latencies, 50), 1),
        "batch_p99_ms": round(_percentile(latencies, 99), 1),
        "readings": readings,
        "duplicates_stored": _duplicates_stored(runtime_url),
        "cpus": os.cpu_count(),
        "replicas": len(base_urls),
        "concurrency": CONCURRENCY,
        "client": CLIENT,
        **cpu,
    }


@contextmanager
def cloud_service(
    admin_url: str | None, replicas: int = 1, *, detection: bool = True, **settings: str
) -> Iterator[tuple[str, list[str]]]:
    """A migrated throwaway database and `replicas` real `tryggheim cloud serve` processes on it, with further
    `TRYGGHEIM_*` settings: (runtime URL, base URL of each replica)."""
    from tryggheim.bench._database import bench_database

    with bench_database(admin_url) as roles, replicas_on(roles, replicas, detection=detection, **settings) as urls:
        yield roles.runtime_url, urls


@contextmanager
def replicas_on(roles: Provisioned, replicas: int, *, detection: bool = True, **settings: str) -> Iterator[list[str]]:
    """`replicas` real `tryggheim cloud serve` processes on a provisioned database: the base URL of each."""
    with ExitStack() as stack:
        yield [stack.enter_context(_replica(roles.runtime_url, detection, settings)) for _ in range(replicas)]


def _replica(runtime_url: str, detection: bool, settings: dict[str, str]) -> AbstractContextManager[str]:
    from tryggheim.harness import cloud_serve

    return cloud_serve(runtime_url, TRYGGHEIM_DB_POOL_MAX="12", TRYGGHEIM_EVALUATION=str(detection).lower(), **settings)


def run(
    mode: str, admin_url: str | None, seed: int = 1, *, detection: bool = True, ingest_writers: int | None = None
) -> dict[str, Any]:
    """Set everything up, measure one mode, clean up; returns the JSON-able result."""
    from tryggheim.bench._database import bench_database

    settings = {} if ingest_writers is None else {"TRYGGHEIM_INGEST_WRITERS": str(ingest_writers)}
    with (
        bench_database(admin_url) as roles,
        replicas_on(roles, REPLICAS, detection=detection, **settings) as urls,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        result = runner.run(_measure(mode, roles, urls, seed, detection))
        return {**result, "detection": detection, "ingest_writers": ingest_writers}
