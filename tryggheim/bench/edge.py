"""The gateway's alarm path and footprint.

- `alarm_p50_ms`, `alarm_p99_ms`: a simulated alarm press handed to the agent's sink (durable outbox write)
  until the cloud has committed it and the gateway has deleted it, over loopback to a real
  `tryggheim cloud serve` on a private PostgreSQL, one press at a time;
- `outbox_writes_per_s`: single-reading durable appends (one fsync'd SQLite transaction each);
- per agent configuration, a real `tryggheim edge run` process: `startup_s` from starting the command until the
  agent says it runs (outbox open, every source started, READY=1 to systemd) and `startup_cpu_s`, the CPU time
  it used for that (what a busy machine cannot inflate), `rss_mb` (VmRSS) and
  `rss_peak_mb` (VmHWM) after `settle_s` (12 s) of work, and `rss_anon_mb` (RssAnon: the private part; the
  rest is file-backed pages of shared libraries). Two configurations: the simulator source at 600x, and every
  source of a real home at once (tryggheim/bench/_edge_home.py: replayed BLE with GATT and both advertisement
  parsers, Zigbee2MQTT over a private Mosquitto, heartbeat every 2 s, uplink to the real cloud);
  `devices_heard` says how many of that home's 5 devices the agent stored readings from.

The first run of a configuration compiles the bytecode into a private cache (PYTHONPYCACHEPREFIX), as installing
on a gateway does (pip and `uv sync --compile-bytecode` write .pyc files); its memory is reported as
`rss_mb_uncompiled` (compiling every module costs memory the process keeps). Then `starts` (5) starts give the
median `startup_s`, and a last run the memory figures, the gateway's steady case. One JSON line per configuration.
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
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloud.db.pool import connect
from cloud.gateways import devices
from device_profiles import Observation
from edge.config import GatewayConfig, config_from, toml_text
from edge.http import make_client
from edge.outbox import Outbox
from edge.sink import Sink
from edge.uplink import Uplink
from tryggheim.bench import _edge_home
from tryggheim.bench.ingest import cloud_service, setup_gateways

PRESSES = 200
BUTTON = "bench-button"


@dataclass(frozen=True, slots=True)
class Plan:
    """How long each measured agent works before its memory is read, and how many starts are timed."""

    settle_s: float = 12.0
    starts: int = 5


async def _register_button(runtime_url: str, gateway_id: uuid.UUID) -> None:
    async with await connect(runtime_url) as conn:
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


def _status_kib(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    wanted = ("VmRSS:", "VmHWM:", "RssAnon:")
    return {line.split(":")[0]: int(line.split()[1]) for line in lines if line.startswith(wanted)}


def _cpu_s(pid: int) -> float:
    """User and system CPU time of a process so far (it survives the exec from `tryggheim` into the agent), with
    that of the children it has waited for (the agent's validating child, edge/validated.py)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _agent_run(config_path: Path, env: Mapping[str, str], settle_s: float) -> dict[str, float]:
    """Start `tryggheim edge run`, time it until it says it runs; after `settle_s` (if not 0) read its memory."""
    binary = str(Path(sys.executable).parent / "tryggheim")
    started = time.perf_counter()
    agent = subprocess.Popen([binary, "edge", "run", "--config", str(config_path)], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert agent.stdout is not None
        line = agent.stdout.readline()
        if not line.startswith("edge agent running"):
            raise RuntimeError(f"the agent did not start: {line!r}, exit {agent.wait(30)}")
        figures = {"startup_s": time.perf_counter() - started, "startup_cpu_s": _cpu_s(agent.pid)}
        if settle_s:
            time.sleep(settle_s)
            kib = _status_kib(agent.pid)
            figures |= {"rss_mb": round(kib["VmRSS"] / 1024, 1), "rss_peak_mb": round(kib["VmHWM"] / 1024, 1),
                        "rss_anon_mb": round(kib["RssAnon"] / 1024, 1)}  # fmt: skip
    finally:
        agent.terminate()
        agent.wait(30)
    return figures


Home = Callable[[Path], AbstractContextManager[dict[str, str]]]


def _agent_figures(config_path: Path, home: Home, workdir: Path, plan: Plan) -> dict[str, Any]:
    """A first run that compiles the bytecode (its memory: `rss_mb_uncompiled`), `plan.starts` starts for the median
    `startup_s`, then the measured run; each in a fresh `home` with its own outbox."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    figures: dict[str, Any] = {}
    for run in ("first", "starts", "measured"):
        with home(workdir / run) as variables:
            env = {**base, **variables, "TRYGGHEIM_EDGE_OUTBOX_PATH": str(workdir / run / "outbox.db")}
            if run == "first":
                figures["rss_mb_uncompiled"] = _agent_run(config_path, env, plan.settle_s)["rss_mb"]
            elif run == "starts":
                starts = [_agent_run(config_path, env, 0) for _ in range(plan.starts)]
                for key in ("startup_s", "startup_cpu_s"):
                    figures[key] = round(statistics.median(start[key] for start in starts), 2)
            else:
                measured = _agent_run(config_path, env, plan.settle_s)
                figures |= {k: v for k, v in measured.items() if not k.startswith("startup")}
    return figures


@contextmanager
def _simulator_home(workdir: Path) -> Iterator[dict[str, str]]:
    workdir.mkdir(parents=True)
    yield {"TRYGGHEIM_EDGE_SIMULATOR__ENABLED": "true", "TRYGGHEIM_EDGE_SIMULATOR__SPEED": "600"}


def _all_sources(config_path: Path, workdir: Path, plan: Plan) -> dict[str, Any]:
    figures = _agent_figures(config_path, lambda path: _edge_home.radio_home(path, plan.settle_s + 5), workdir, plan)
    heard = _edge_home.heard(workdir / "measured" / "outbox.db")
    return {**figures, "devices_heard": len(heard), "devices": len(_edge_home.PROFILES)}


def run(admin_url: str | None, plan: Plan) -> list[dict[str, Any]]:
    """Private database, real cloud process, in-process uplink for latency, real agent processes for memory."""
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
        config = config_from(values)
        latencies = asyncio.run(_alarm_latencies(config, gateway.credential))
        writes = _outbox_writes_per_s(Path(tmp) / "writes.db")
        simulator = _agent_figures(config_path, _simulator_home, Path(tmp) / "simulator", plan)
        asyncio.run(_edge_home.register_devices(runtime_url, gateway.id))
        home = _all_sources(config_path, Path(tmp) / "home", plan)
    common = {"benchmark": "edge", "cpus": os.cpu_count()}
    return [
        {**common, "agent": "simulator", **simulator,
         "alarm_presses": len(latencies),
         "alarm_p50_ms": round(statistics.median(latencies) * 1000, 1),
         "alarm_p99_ms": round(statistics.quantiles(latencies, n=100)[98] * 1000, 1),
         "outbox_writes_per_s": round(writes)},
        {**common, "agent": "all-sources", **home},
    ]  # fmt: skip


def main(admin_url: str | None = None, plan: Plan | None = None) -> None:
    """Print one JSON line per agent configuration."""
    for line in run(admin_url, plan or Plan()):
        print(json.dumps(line))  # noqa: T201 - a benchmark prints its lines
