"""The demo's three homes, each running a real edge agent process (`tryggheim edge run`):

* Kari (heart failure) and Ola (COPD) run the simulator source (tryggheim/demo/story.py says what happens to
  them). Their agents first play 30 days of history at once, through the real outbox and uplink, then their
  clocks run `speed` times faster than real time.
* Per and Berit (welfare technology, a couple) run the radio sources instead: replayed BLE devices and a private
  Mosquitto with a Zigbee2MQTT stand-in (tryggheim/demo/radio.py, tryggheim/demo/couple.py).

Enrolment goes through `tryggheim edge enrol` with a one-time code, and each kit's devices are registered and
assigned as an installer would (supervision sensors to the home, with each resident's consent).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

from cloud.access import audit, directory
from cloud.db.pool import connect
from cloud.gateways import credentials, devices
from common.children import die_with_parent
from common.i18n import N_
from common.ports import free_port
from device_profiles.sim.home import default_devices
from edge.config import ScenarioConfig, SimulatorConfig
from edge.outbox import Outbox
from edge.sources.simulator import ANCHOR, CURSOR, build_simulator
from tryggheim.demo import console, couple, degraded, story
from tryggheim.demo import radio as demo_radio
from tryggheim.demo import sms as demo_sms
from tryggheim.demo.registry import install_with_consent, seed_registry
from tryggheim.demo.seed import MUNICIPALITY, TEAM, assign_protocols
from tryggheim.demo.uplink_relay import UplinkRelay

_TRYGGHEIM = str(Path(sys.executable).parent / "tryggheim")
Agents = list[subprocess.Popen[bytes]]
log = logging.getLogger(__name__)
_RELAYS: list[UplinkRelay] = []  # the radio home's uplink relay, stopped with the agents


async def _home(url: str, resident: str) -> tuple[UUID, str]:
    """The resident's patient id (their home is seeded) and a fresh enrolment code for the home."""
    async with await connect(url) as conn:
        municipality = await directory.municipality_id(conn, MUNICIPALITY[0])
        team = await directory.ensure_team(conn, municipality, TEAM, actor=audit.Actor.system("demo"))
        await seed_registry(conn, municipality, team)
        row = await (
            await conn.execute("SELECT id, home_id FROM patients WHERE display_name = %s", (resident,))
        ).fetchone()
        assert row is not None and row[1] is not None
        code, _ = await credentials.create_code(conn, row[1])
        return row[0], code


async def _install(url: str, gateway_id: UUID, home: story.Home, since: datetime) -> None:
    """Register and assign the kit from `since` (before the history its agent will send), and set the protocols of
    every resident of the home."""
    # The simulated homes' alarm buttons are left out: the safety alarm is Per and Berit's story, and a button
    # never pressed would only be a silent-button alert.
    simulated = {d.address: d.profile_id for d in default_devices(home.seed) if d.role != "button"}
    kit = couple.devices(home.seed) if home.radio else simulated
    async with await connect(url) as conn:
        municipality = await directory.municipality_id(conn, MUNICIPALITY[0])
        patients = {}
        for name, protocols in home.residents:
            row = await (await conn.execute("SELECT id FROM patients WHERE display_name = %s", (name,))).fetchone()
            assert row is not None
            patients[name] = row[0]
            await assign_protocols(conn, row[0], list(protocols))
        owners = dict(home.owners)
        for address, profile_id in kit.items():
            registered = await devices.register(
                conn, gateway_id=gateway_id, address=address, profile_id=profile_id, valid_from=since
            )
            owner = patients[owners.get(profile_id, home.residents[0][0])]
            await install_with_consent(conn, municipality, owner, registered, profile_id, since)


def _enrol(base_url: str, runtime_url: str, home_dir: Path, home: story.Home) -> None:
    """Enrol the home's gateway with a one-time code and install its kit; the home's clock is fixed here."""
    _patient, code = asyncio.run(_home(runtime_url, home.residents[0][0]))
    config = home_dir / "gateway.toml"
    home_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [_TRYGGHEIM, "edge", "enrol", "--cloud", base_url, "--code", code, "--insecure-dev", "--config", str(config)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with config.open("rb") as handle:
        gateway_id = UUID(tomllib.load(handle)["gateway_id"])
    live_from = datetime.now(UTC)
    since = live_from - timedelta(days=story.HISTORY_DAYS + 1)
    asyncio.run(_install(runtime_url, gateway_id, home, since))
    # Written last: a home whose enrolment or installation was interrupted is enrolled again on the next run.
    (home_dir / "live-from").write_text(live_from.isoformat())


def _simulator_env(home_dir: Path, home: story.Home, speed: float) -> dict[str, str]:
    """The simulated home's agent: its history from 30 days before the clock was fixed, then `speed`."""
    live_from = datetime.fromisoformat((home_dir / "live-from").read_text().strip())
    config = SimulatorConfig(enabled=True, seed=home.seed, speed=speed,
                             start=(live_from - timedelta(days=story.HISTORY_DAYS)).isoformat(),
                             live_from=live_from.isoformat(),
                             scenarios=tuple(ScenarioConfig(**each) for each in home.scenarios(live_from)))  # fmt: skip
    clock_from = _where_it_stopped(home_dir, config) or live_from
    return {
        **os.environ,
        "TRYGGHEIM_EDGE_SIMULATOR__ENABLED": "true",
        "TRYGGHEIM_EDGE_SIMULATOR__SEED": str(home.seed),
        "TRYGGHEIM_EDGE_SIMULATOR__SPEED": str(speed),
        "TRYGGHEIM_EDGE_SIMULATOR__START": str(config.start),
        "TRYGGHEIM_EDGE_SIMULATOR__LIVE_FROM": clock_from.isoformat(),
        "TRYGGHEIM_EDGE_SIMULATOR__SCENARIOS": json.dumps(home.scenarios(live_from)),
    }


def _where_it_stopped(home_dir: Path, config: SimulatorConfig) -> datetime | None:
    """For a home that ran before: the clock's origin that makes its simulated time go on from its last event,
    instead of jumping ahead by the time the demo was stopped times `speed` (the agent's clock counts from its
    first start, kept in the outbox). None for a home that has not played an event yet."""
    with (home_dir / "gateway.toml").open("rb") as handle:
        outbox = Outbox(Path(tomllib.load(handle)["outbox_path"]))
    try:
        anchor, cursor = outbox.get_state(ANCHOR), int(outbox.get_state(CURSOR) or 0)
    finally:
        outbox.close()
    if anchor is None or cursor == 0 or config.start is None:
        return None
    simulator = build_simulator(config, datetime.fromisoformat(config.start))
    last = next(itertools.islice(simulator.events(), cursor - 1, None)).at
    return last - timedelta(seconds=(time.time() - float(anchor)) * config.speed)


def start_home(
    base_url: str, runtime_url: str, state_dir: Path, home: story.Home, speed: float, agents: Agents
) -> Path:
    """Enrol the home once (kept across demo runs) and start its agent (and the radio home's broker and
    Zigbee2MQTT stand-in), appending every process to `agents`. Returns the home's directory."""
    home_dir = (state_dir / "edge" / f"home-{home.seed}").resolve()
    config = home_dir / "gateway.toml"
    if not (home_dir / "live-from").exists():
        config.unlink(missing_ok=True)
        _enrol(base_url, runtime_url, home_dir, home)
    env = _radio_env(base_url, home_dir, home, agents) if home.radio else _simulator_env(home_dir, home, speed)
    agents.append(spawn([_TRYGGHEIM, "edge", "run", "--config", str(config)], env, home_dir / "agent.log"))
    return home_dir


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A child of the demo in its own process group, its output in `log`, that dies with the demo's thread."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # the demo stops them itself, in order, after Ctrl-C
            preexec_fn=die_with_parent(signal.SIGTERM),
        )  # fmt: skip


def _radio_env(base_url: str, home_dir: Path, home: story.Home, helpers: Agents) -> dict[str, str]:
    """Start the radio home's private broker and Zigbee2MQTT stand-in with its siren (added to `helpers`, so they
    are stopped with the agents) and its uplink relay, and return the agent's environment: replayed BLE, MQTT on
    the private broker, the cloud through the relay and the local alarm path (tryggheim/demo/degraded.py)."""
    script = couple.script_for_run(home.seed, home_dir / "ble-replay.json")
    env = {
        **os.environ,
        "TRYGGHEIM_EDGE_BLE__ENABLED": "true",
        "TRYGGHEIM_EDGE_BLE__REPLAY_SCRIPT": str(script),
        "TRYGGHEIM_EDGE_BLE__CONNECT_COOLDOWN_S": "5",
    }
    if demo_radio.broker_binary() is None:  # no broker: the replayed BLE devices still report, the sensors do not
        console.tell(N_("{home}: Mosquitto is not installed; the home runs without its door and motion sensors"),
                     home=home.title)  # fmt: skip
        return env
    port = free_port()
    helpers.append(demo_radio.start_broker(home_dir / "mosquitto", port, console.say))
    siren = demo_radio.siren_name(home.seed)
    helpers.append(demo_radio.start_publisher(port, home.seed, home_dir / "publisher.log", siren=siren))
    env = {**env, "TRYGGHEIM_EDGE_MQTT__ENABLED": "true", "TRYGGHEIM_EDGE_MQTT__PORT": str(port)}
    sms_url = demo_sms.send_url()
    if sms_url is None:
        return env
    # Degraded mode: the agent reaches the cloud through a relay `tryggheim demo uplink` can cut.
    relay, local_alarm = degraded.start(home_dir, home.seed, urlsplit(base_url).port or 80, port, sms_url)
    _RELAYS.append(relay)
    return {**env, **local_alarm}


def credential(home_dir: Path) -> tuple[str, str]:
    """The home's gateway id and credential, as its agent reads them from its configuration."""
    with (home_dir / "gateway.toml").open("rb") as handle:
        config = tomllib.load(handle)
    return str(config["gateway_id"]), Path(config["credential_file"]).read_text(encoding="utf-8").strip()


def stop_agents(agents: Agents, deadline_s: float = 4.0) -> None:
    """SIGTERM each agent (they flush and exit 0) and wait; kill one that hangs past `deadline_s` in all (an agent
    in the middle of uploading a large backlog to a loaded service may; its outbox keeps every reading across a
    kill, and Ctrl-C must end the whole demo within 10 s). The uplink relay stops last, so an agent flushing
    through it is not cut off."""
    asked = time.monotonic()
    for agent in agents:
        if agent.poll() is None:
            agent.terminate()
    _wait_all(agents, deadline_s, _kill)
    while _RELAYS:
        _RELAYS.pop().stop()
    log.info("the homes' processes stopped in %.1f s", time.monotonic() - asked)


def _kill(agent: subprocess.Popen[bytes]) -> None:
    log.warning("killed process %d, still running after the deadline: %s", agent.pid, agent.args)
    agent.kill()


def _wait_all(agents: Agents, deadline_s: float, late: Callable[[subprocess.Popen[bytes]], None]) -> None:
    ends = time.monotonic() + deadline_s
    for agent in agents:
        try:
            agent.wait(max(0.1, ends - time.monotonic()))
        except subprocess.TimeoutExpired:
            late(agent)
            agent.wait(5)
