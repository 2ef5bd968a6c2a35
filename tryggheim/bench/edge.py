"""The gateway's alarm path and footprint.

- `alarm_p50_ms`, `alarm_p99_ms`: a simulated alarm press handed to the agent's sink (durable outbox write)
  until the cloud has committed it and the gateway has deleted it, over loopback to a real
  `tryggheim cloud serve` on a private PostgreSQL, one press at a time;
- `outbox_writes_per_s`: single-reading durable appends (one fsync'd SQLite transaction each);
- `rss_mb`: resident memory of a real `tryggheim edge run` process with the simulator source, after warm-up.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from cloud.gateways import devices
from device_profiles import Observation
from edge.config import GatewayConfig, toml_text
from edge.http import make_client
from edge.outbox import Outbox
from edge.sink import Sink
from edge.uplink import Uplink
from tryggheim.bench.ingest import cloud_service, setup_gateways

PRESSES = 200
BUTTON = "bench-button"


async def _register_button(runtime_url: str, gateway_id: uuid.UUID) -> None:
    async with await psycopg.AsyncConnection.connect(runtime_url, autocommit=True) as conn:
        row = await (await conn.execute("SELECT patient_id FROM device_assignments ORDER BY id LIMIT 1")).fetchone()
        assert row is not None
        device = await devices.register(conn, gateway_id=gateway_id, address=BUTTON, profile_id="shelly-blu-button1",
                                        valid_from=datetime(2020, 1, 1, tzinfo=UTC))  # fmt: skip
        await devices.assign(conn, device_id=device, patient_id=row[0], valid_from=datetime(2020, 1, 1, tzinfo=UTC))


async def _alarm_latencies(config: GatewayConfig, credential: str) -> list[float]:
    outbox = Outbox(config.outbox_path)
    client = make_client(config.cloud_url, insecure_dev=True, ca_file=None, credential=credential)
    uplink = Uplink(config, outbox, client)
    sink = Sink(outbox, uplink, None)
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    latencies = []
    try:
        for _ in range(PRESSES):
            now = datetime.now(UTC)
            started = time.perf_counter()
            sink.observations([Observation(BUTTON, "alarm.button", 1, "1", now, now)])
            # The outbox offers no completion event; polling every 0.5 ms bounds the error of the figure.
            while outbox.depth().count:  # noqa: ASYNC110
                await asyncio.sleep(0.0005)
            latencies.append(time.perf_counter() - started)
    finally:
        stop.set()
        await task
        await client.aclose()
        outbox.close()
    return latencies


def _outbox_writes_per_s(path: Path, n: int = 2000) -> float:
    outbox = Outbox(path)
    try:
        started = time.perf_counter()
        for _ in range(n):
            now = datetime.now(UTC)
            outbox.append([Observation("bench-scale", "body.weight", 80.0, "kg", now, now)])
        return n / (time.perf_counter() - started)
    finally:
        outbox.close()


def _agent_rss_mb(config_path: Path, settle_s: float = 8.0) -> float:
    env = {**os.environ, "TRYGGHEIM_EDGE_SIMULATOR__ENABLED": "true", "TRYGGHEIM_EDGE_SIMULATOR__SPEED": "600"}
    binary = str(Path(sys.executable).parent / "tryggheim")
    agent = subprocess.Popen([binary, "edge", "run", "--config", str(config_path)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(settle_s)
        status = Path(f"/proc/{agent.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        return kib / 1024
    finally:
        agent.terminate()
        agent.wait(30)


def run(admin_url: str | None) -> dict[str, Any]:
    """Private database, real cloud process, in-process uplink for latency, real agent process for memory."""
    with cloud_service(admin_url) as (runtime_url, (url,)), tempfile.TemporaryDirectory() as tmp:
        gateway = asyncio.run(setup_gateways(runtime_url, url, 1, 1))[0]
        asyncio.run(_register_button(runtime_url, gateway.id))
        credential_file = Path(tmp) / "credential"
        credential_file.write_text(gateway.credential)
        credential_file.chmod(0o600)
        values = {"cloud_url": url, "gateway_id": str(gateway.id), "credential_file": str(credential_file),
                  "outbox_path": str(Path(tmp) / "outbox.db"), "insecure_dev": True}  # fmt: skip
        config_path = Path(tmp) / "gateway.toml"
        config_path.write_text(toml_text(values))
        config = GatewayConfig(**values)  # type: ignore[arg-type]
        latencies = asyncio.run(_alarm_latencies(config, gateway.credential))
        writes = _outbox_writes_per_s(Path(tmp) / "writes.db")
        rss = _agent_rss_mb(config_path)
    return {
        "benchmark": "edge",
        "alarm_presses": len(latencies),
        "alarm_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "alarm_p99_ms": round(statistics.quantiles(latencies, n=100)[98] * 1000, 1),
        "outbox_writes_per_s": round(writes),
        "rss_mb": round(rss, 1),
        "cpus": os.cpu_count(),
    }


def main(admin_url: str | None = None) -> None:
    """Print the result as one JSON line."""
    print(json.dumps(run(admin_url)))  # noqa: T201 - a benchmark prints its line
