"""The demo's simulated homes: each runs a real edge agent process (`tryggheim edge run`) whose simulator
source feeds the real outbox and uplink. Enrolment goes through `tryggheim edge enrol` with a one-time code,
and the simulated kit's devices are registered and assigned as an installer would."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import psycopg

from cloud.access import directory
from cloud.gateways import credentials, devices
from device_profiles.sim.home import default_devices
from tryggheim.commands._demo_registry import install_with_consent, seed_registry
from tryggheim.commands._demo_seed import MUNICIPALITY, TEAM
from tryggheim.common.children import die_with_parent

# (simulator seed, resident): each home is a different, reproducible week of readings.
HOMES = ((11, "Ola Nordmann (demo)"), (12, "Per Hansen (demo)"))
SPEED = 120  # two simulated minutes per second: a day of readings in 12 minutes
_TRYGGHEIM = str(Path(sys.executable).parent / "tryggheim")


async def _home(url: str, resident: str) -> tuple[UUID, UUID, str]:
    """The resident's patient id, a home for them, and a fresh enrolment code."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        municipality = await directory.municipality_id(conn, MUNICIPALITY[0])
        team = await directory.ensure_team(conn, municipality, TEAM)
        await seed_registry(conn, municipality, team)  # the resident and their home (demo seed)
        row = await (
            await conn.execute("SELECT id, home_id FROM patients WHERE display_name = %s", (resident,))
        ).fetchone()
        assert row is not None and row[1] is not None
        code, _ = await credentials.create_code(conn, row[1])
        return row[0], row[1], code


async def _install(url: str, gateway_id: UUID, patient_id: UUID, seed: int) -> None:
    since = datetime.now(UTC) - timedelta(days=1)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        municipality = await directory.municipality_id(conn, MUNICIPALITY[0])
        for device in default_devices(seed):
            registered = await devices.register(
                conn, gateway_id=gateway_id, address=device.address, profile_id=device.profile_id, valid_from=since
            )
            await install_with_consent(conn, municipality, patient_id, registered, device.profile_id, since)


def _enrol(base_url: str, runtime_url: str, config: Path, seed: int, resident: str) -> None:
    patient, _, code = asyncio.run(_home(runtime_url, resident))
    config.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [_TRYGGHEIM, "edge", "enrol", "--cloud", base_url, "--code", code, "--insecure-dev", "--config", str(config)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with config.open("rb") as handle:
        gateway_id = UUID(tomllib.load(handle)["gateway_id"])
    asyncio.run(_install(runtime_url, gateway_id, patient, seed))


def start_agents(base_url: str, runtime_url: str, state_dir: Path) -> list[subprocess.Popen[bytes]]:
    """Enrol each simulated home once (kept across demo runs) and start its agent."""
    agents = []
    for seed, resident in HOMES:
        home_dir = (state_dir / "edge" / f"home-{seed}").resolve()
        config = home_dir / "gateway.toml"
        if not config.exists():
            _enrol(base_url, runtime_url, config, seed, resident)
        env = {
            **os.environ,
            "TRYGGHEIM_EDGE_SIMULATOR__ENABLED": "true",
            "TRYGGHEIM_EDGE_SIMULATOR__SEED": str(seed),
            "TRYGGHEIM_EDGE_SIMULATOR__SPEED": str(SPEED),
        }
        log = (home_dir / "agent.log").open("ab")
        agents.append(
            subprocess.Popen(
                [_TRYGGHEIM, "edge", "run", "--config", str(config)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # the demo stops them itself, in order, after Ctrl-C
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        )
        log.close()
    return agents


def stop_agents(agents: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each agent (they flush and exit 0) and wait; kill one that hangs."""
    for agent in agents:
        if agent.poll() is None:
            agent.terminate()
    for agent in agents:
        try:
            agent.wait(15)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait(5)
