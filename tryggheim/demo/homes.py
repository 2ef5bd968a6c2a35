"""The demo's homes: each runs a real edge agent process (`tryggheim edge run`). The first home's simulator
source feeds the real outbox and uplink; the second home uses the radio sources instead, with replayed BLE
devices and a private Mosquitto (see tryggheim.demo.radio). Enrolment goes through `tryggheim edge enrol` with a
one-time code, and the kit's devices are registered and assigned as an installer would."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import psycopg

from cloud.access import audit, directory
from cloud.db.embedded import free_port
from cloud.gateways import credentials, devices
from common.children import die_with_parent
from common.i18n import translations
from device_profiles.sim.home import default_devices
from tryggheim.demo import radio as demo_radio
from tryggheim.demo.registry import install_with_consent, seed_registry
from tryggheim.demo.seed import MUNICIPALITY, TEAM

# (seed, resident): each home is a different, reproducible week of readings.
HOMES = ((11, "Ola Nordmann (demo)"), (12, "Per Hansen (demo)"))
RADIO_HOME = 12  # this home's agent reads replayed BLE devices and Zigbee2MQTT sensors, not the simulator
SPEED = 120  # two simulated minutes per second: a day of readings in 12 minutes
_TRYGGHEIM = str(Path(sys.executable).parent / "tryggheim")


async def _home(url: str, resident: str) -> tuple[UUID, UUID, str]:
    """The resident's patient id, a home for them, and a fresh enrolment code."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        municipality = await directory.municipality_id(conn, MUNICIPALITY[0])
        team = await directory.ensure_team(conn, municipality, TEAM, actor=audit.Actor.system("demo"))
        await seed_registry(conn, municipality, team)  # the resident and their home (demo seed)
        row = await (
            await conn.execute("SELECT id, home_id FROM patients WHERE display_name = %s", (resident,))
        ).fetchone()
        assert row is not None and row[1] is not None
        code, _ = await credentials.create_code(conn, row[1])
        return row[0], row[1], code


async def _install(url: str, gateway_id: UUID, patient_id: UUID, seed: int) -> None:
    # From now, as an installer assigns them: the agent starts after this, so every reading of its devices
    # falls within the assignment, and their silence is counted from now rather than from a made-up past.
    since = datetime.now(UTC)
    kit = demo_radio.devices(seed) if seed == RADIO_HOME else {d.address: d.profile_id for d in default_devices(seed)}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        municipality = await directory.municipality_id(conn, MUNICIPALITY[0])
        for address, profile_id in kit.items():
            registered = await devices.register(
                conn, gateway_id=gateway_id, address=address, profile_id=profile_id, valid_from=since
            )
            await install_with_consent(conn, municipality, patient_id, registered, profile_id, since)


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
    agents: list[subprocess.Popen[bytes]] = []
    for seed, resident in HOMES:
        home_dir = (state_dir / "edge" / f"home-{seed}").resolve()
        config = home_dir / "gateway.toml"
        if not config.exists():
            _enrol(base_url, runtime_url, config, seed, resident)
        if seed == RADIO_HOME:
            env = _radio_env(home_dir, seed, resident, agents)
        else:
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


def _radio_env(home_dir: Path, seed: int, resident: str, helpers: list[subprocess.Popen[bytes]]) -> dict[str, str]:
    """Start the radio home's private broker and Zigbee2MQTT stand-in (added to `helpers`, so they are stopped
    with the agents) and return the agent's environment: replayed BLE, MQTT on the private broker."""
    env = {
        **os.environ,
        "TRYGGHEIM_EDGE_BLE__ENABLED": "true",
        "TRYGGHEIM_EDGE_BLE__REPLAY_SCRIPT": str(demo_radio.script_for_run(seed, home_dir / "ble-replay.json")),
        "TRYGGHEIM_EDGE_BLE__CONNECT_COOLDOWN_S": "5",
    }
    _ = translations("nb").gettext
    if demo_radio.broker_binary() is None:  # no broker: the replayed BLE devices still report, the sensors do not
        print(_("{resident}: Mosquitto is not installed; the home runs with its BLE devices only, without the door "
                "and motion sensors").format(resident=resident), flush=True)  # fmt: skip
        return env
    port = free_port()
    helpers.append(demo_radio.start_broker(home_dir / "mosquitto", port, lambda line: print(line, flush=True)))
    helpers.append(demo_radio.start_publisher(port, seed, home_dir / "publisher.log"))
    print(_("Demo home with radio sources: {resident} (replayed BLE devices, Mosquitto on port {port})").format(
        resident=resident, port=port), flush=True)  # fmt: skip
    return {**env, "TRYGGHEIM_EDGE_MQTT__ENABLED": "true", "TRYGGHEIM_EDGE_MQTT__PORT": str(port)}


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
