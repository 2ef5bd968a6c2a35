"""Zero loss, zero duplicates, countable: the real agent process fed by the simulator, the real cloud process
and a private PostgreSQL, with the agent SIGKILLed repeatedly, the database restarted mid-stream and the cloud
down for more than 30 s. Afterwards the cloud holds exactly the (gateway, epoch, sequence) set the outbox
produced, every simulated event is stored, and an alarm pressed during the outage was stored first."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from cloud.db import migrate
from cloud.db.embedded import EmbeddedPostgres
from cloud.db.provision import provision
from common.ports import free_port
from device_profiles.sim import HomeSimulator, SimEvent, default_devices
from device_profiles.sim.scenarios import AlarmPress
from tests.edge.cloud import new_code, register_devices
from tests.support.proc import TRYGGHEIM, env_with, run_cli
from tests.support.tenants import Tenants, build_tenants

pytestmark = pytest.mark.slow

SEED = 20260
EVENTS = 2000  # about 2,300 readings
SPEED = 72_000.0  # simulated seconds per real second: 2,000 events (~37 days) take ~45 s
ALARM_AT_S = 22.0  # real seconds after the agent's first start
CLOUD_DOWN_AT_S = 11.0
CLOUD_DOWN_FOR_S = 32.0
DB_RESTART_AT_S = 4.0
KILLS_AT_S = (3.0, 8.0, 15.0, 25.0, 33.0, 40.0, 49.0)


class Cloud:
    """`tryggheim cloud serve` as a process that can be killed and started again on the same port."""

    def __init__(self, runtime_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A request that finds the database down answers 503 once the pool has waited its connect timeout. At
        # the default 5 s, an agent restarted just before the database went down sent its heartbeat (5 s to its
        # 503) before its first upload (5 s more), and the test's 10 s for the restart's 503 ran out (CI,
        # 2026-12-05); 1 s keeps what is tested, that the restart reaches the agent as 503s, within its window.
        self.env = env_with(TRYGGHEIM_DATABASE_URL=runtime_url, TRYGGHEIM_PORT=str(self.port),
                            TRYGGHEIM_HOST="127.0.0.1", TRYGGHEIM_STATE_DIR=str(workdir),
                            TRYGGHEIM_AUTH_MODE="local", TRYGGHEIM_COOKIE_SECURE="false",
                            TRYGGHEIM_DB_CONNECT_TIMEOUT_S="1")  # fmt: skip
        self.log = (workdir / "cloud.log").open("ab")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([TRYGGHEIM, "cloud", "serve"], env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code < 500:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the cloud did not come up")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


def _outbox_state(path: Path) -> tuple[int, int, int]:
    """(next simulator event, outbox depth, last sequence) read from the agent's outbox file."""
    if not path.exists():
        return 0, 0, 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        cursor = db.execute("SELECT value FROM state WHERE key = 'sim.cursor'").fetchone()
        depth = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    except sqlite3.OperationalError:
        return 0, 0, 0
    finally:
        db.close()
    return int(cursor[0]) if cursor else 0, int(depth), int(last[0]) if last else 0


@dataclass
class Chaos:
    """What the run did to the agent, the database and the cloud, for the assertions."""

    kills: int = 0
    db_restarted: bool = False
    cloud_down_at: float = 0.0
    cloud_up_at: float = 0.0


def test_zero_loss_zero_duplicates_under_kills_and_outages(private_pg: EmbeddedPostgres, tmp_path: Path) -> None:
    roles = provision(private_pg.url(), database="tryggheim", owner_role="owner", runtime_role="app")
    migrate.upgrade(roles.owner_url, runtime_role="app")
    tenants = build_tenants(roles.runtime_url)
    cloud = Cloud(roles.runtime_url, tmp_path)
    cloud.start()
    config, gateway_id = _enrol(roles.runtime_url, tenants, cloud, tmp_path / "gw" / "gateway.toml")
    began = time.time()
    expected = _simulate(config, began)
    alarm_index = next(e.index for e in expected if e.device.role == "button")
    outbox = config.parent / "outbox.db"
    chaos = _run_under_chaos(config, private_pg, cloud, began, alarm_index, tmp_path / "agent.log")
    assert chaos.kills >= 5
    _assert_stored_exactly_once(roles.runtime_url, outbox, gateway_id, expected, chaos)


def _enrol(runtime_url: str, tenants: Tenants, cloud: Cloud, config: Path) -> tuple[Path, str]:
    """Enrol a gateway of municipality A with the simulator's devices; (its configuration, its id)."""
    config.parent.mkdir()
    code = new_code(runtime_url, tenants.a.municipality_id)
    enrolled = run_cli("edge", "enrol", "--cloud", cloud.url, "--code", code, "--insecure-dev", "--config", str(config))
    assert enrolled.returncode == 0, enrolled.stderr
    gateway_id = config.read_text().split('gateway_id = "')[1].split('"')[0]
    devices = default_devices(SEED)
    register_devices(runtime_url, UUID(gateway_id), tenants.a.patients["nord"],
                     {d.address: d.profile_id for d in devices})  # fmt: skip
    return config, gateway_id


def _simulate(config: Path, began: float) -> list[SimEvent]:
    """Turn on the agent's simulator (fast, with an alarm press at `ALARM_AT_S`); the events it will make."""
    sim_start = datetime.fromtimestamp(began, UTC) - timedelta(days=40)
    press = sim_start + timedelta(seconds=ALARM_AT_S * SPEED)
    with config.open("a") as handle:
        handle.write(
            "batch_age_s = 0.3\nbackoff_base_s = 0.2\nbackoff_max_s = 2.0\nheartbeat_s = 5\n"
            f'[simulator]\nenabled = true\nseed = {SEED}\nstart = "{sim_start.isoformat()}"\nspeed = {SPEED}\n'
            f'limit = {EVENTS}\nalarm_presses = ["{press.isoformat()}"]\n'
        )
    return _first(HomeSimulator(SEED, sim_start, scenarios=(AlarmPress(press),)), EVENTS)


def _run_under_chaos(
    config: Path, private_pg: EmbeddedPostgres, cloud: Cloud, began: float, alarm_index: int, log: Path
) -> Chaos:
    """Run the agent until its outbox is drained, killing it at `KILLS_AT_S`, restarting the database and
    keeping the cloud down around the alarm press; stop it with SIGTERM."""
    outbox = config.parent / "outbox.db"
    agent_log = log.open("ab")

    last_start = [0.0]

    def start_agent() -> subprocess.Popen[bytes]:
        last_start[0] = time.time()
        return subprocess.Popen([TRYGGHEIM, "edge", "run", "--config", str(config)], env=env_with(),
                                stdout=agent_log, stderr=subprocess.STDOUT)  # fmt: skip

    agent = start_agent()
    chaos = Chaos()
    try:
        while True:
            elapsed = time.time() - began
            cursor, depth, _ = _outbox_state(outbox)
            if chaos.kills < len(KILLS_AT_S) and elapsed >= KILLS_AT_S[chaos.kills]:
                agent.send_signal(signal.SIGKILL)
                assert agent.wait(10) == -signal.SIGKILL
                chaos.kills += 1
                agent = start_agent()
            if not chaos.db_restarted and elapsed >= DB_RESTART_AT_S:
                # Uploads flow every 0.3 s, so the kill lands in or between batches; the database stays down
                # until the agent has been told 503 at least once.
                private_pg.kill()
                deadline = time.monotonic() + 10
                while _counter(outbox, "cloud_unavailable") == 0 and time.monotonic() < deadline:
                    time.sleep(0.05)
                private_pg.start()
                chaos.db_restarted = True
            if not chaos.cloud_down_at and elapsed >= CLOUD_DOWN_AT_S:
                assert cursor <= alarm_index, "the alarm was produced before the outage began; slow the test down"
                cloud.kill()
                chaos.cloud_down_at = time.time()
            if chaos.cloud_down_at and not chaos.cloud_up_at and time.time() - chaos.cloud_down_at >= CLOUD_DOWN_FOR_S:
                assert cursor > alarm_index, "the alarm was not pressed during the outage"
                chaos.cloud_up_at = time.time()
                cloud.start()
            if chaos.cloud_up_at and cursor >= EVENTS and depth == 0:
                break
            assert elapsed < 85, f"not drained: cursor {cursor}, depth {depth}"
            time.sleep(0.05)
        # The drain may be the previous agent's, just before the last kill: the clean stop is asked of a running
        # agent (its signal handlers are installed before it records its start), not of one still importing.
        deadline = time.monotonic() + 30
        while _started_at(outbox) < last_start[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(15) == 0  # a clean stop on SIGTERM
    finally:
        if agent.poll() is None:
            agent.kill()
        if cloud.process and cloud.process.poll() is None:
            cloud.process.terminate()
            cloud.process.wait(15)
    return chaos


def _assert_stored_exactly_once(
    runtime_url: str, outbox: Path, gateway_id: str, expected: list[SimEvent], chaos: Chaos
) -> None:
    """The cloud holds exactly the sequences the outbox produced, every simulated event, and the alarm pressed
    during the outage as the first thing stored when the cloud came back."""
    epoch = sqlite3.connect(outbox).execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
    counters = dict(sqlite3.connect(outbox).execute("SELECT name, value FROM counters").fetchall())
    _, depth, last_seq = _outbox_state(outbox)
    # The database restart reached the agent as 503s (nothing committed), the cloud outage as failed uploads.
    assert counters.get("cloud_unavailable", 0) >= 1 and counters["upload_errors"] > counters["cloud_unavailable"]
    with psycopg.connect(runtime_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT gateway_id::text AS gateway, outbox_epoch::text AS epoch, seq, (context->>'sim_event')::int AS "
            "sim_event, metric, stored_at, received_at FROM observations"
        ).fetchall()
        quarantined = conn.execute("SELECT count(*) AS n FROM quarantine").fetchone()
    produced = {(gateway_id, epoch, seq) for seq in range(1, last_seq + 1)}
    delivered = [(r["gateway"], r["epoch"], r["seq"]) for r in rows]
    assert depth == 0 and quarantined == {"n": 0}
    assert len(delivered) == len(set(delivered)), "duplicates"
    assert set(delivered) == produced, "lost or unexpected sequences"
    # Every simulated event arrived, with as many readings as the simulator made for it.
    expected_readings = sorted(e.index for e in expected for _ in e.observations)
    assert sorted(r["sim_event"] for r in rows) == expected_readings
    assert len(rows) >= 2000
    # The alarm was pressed while the cloud was down and was the first thing stored when it came back.
    alarm = next(r for r in rows if r["metric"] == "alarm.button")
    assert chaos.cloud_down_at < alarm["received_at"].timestamp() < chaos.cloud_up_at
    after = sorted((r["stored_at"], r["metric"]) for r in rows if r["stored_at"].timestamp() >= chaos.cloud_up_at - 1)
    assert after[0][1] == "alarm.button" and after[1][0] > after[0][0], after[:3]


def _started_at(path: Path) -> float:
    """When the running agent recorded its start (0 while the outbox cannot be read)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.OperationalError:
        return 0.0
    try:
        row = db.execute("SELECT value FROM state WHERE key = 'agent_started_at'").fetchone()
    except sqlite3.OperationalError:
        return 0.0
    finally:
        db.close()
    return float(row[0]) if row else 0.0


def _counter(path: Path, name: str) -> int:
    # Read-only opening fails while a just-restarted agent has not yet recreated the outbox or its WAL files:
    # the callers poll, so that reads as 0 and they look again.
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.OperationalError:
        return 0
    try:
        row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()
    return int(row[0]) if row else 0


def _first(simulator: HomeSimulator, count: int) -> list[SimEvent]:
    events = []
    for event in simulator.events():
        if event.index >= count:
            break
        events.append(event)
    return events
