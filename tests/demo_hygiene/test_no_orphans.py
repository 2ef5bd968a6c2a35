"""After `kill -9` of the demo's process nothing it started survives (PostgreSQL and its backends, the private
Mosquitto, the Zigbee2MQTT stand-in, the edge agent), and the next start clears what an earlier version left
behind (a broker that outlived it, a lock file PostgreSQL would refuse), saying so."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.children import record, start_time
from common.ports import free_port
from tests.support.proc import env_with, reachable_state_dir
from tryggheim.demo import radio

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo")]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def state() -> Iterator[Path]:
    """A state directory the database and broker users can reach."""
    with reachable_state_dir("trgt-hygiene-") as path:
        yield path


def _start(state: Path) -> tuple[subprocess.Popen[str], list[str], list[int]]:
    """The harness (tests/demo_hygiene/children.py): its notices and the pids of the children it started."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.demo_hygiene.children", str(state)], cwd=ROOT, env=env_with(),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    notices: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("NOTICE "):
            notices.append(line.removeprefix("NOTICE ").strip())
        elif line.startswith("CHILDREN "):
            return process, notices, [int(pid) for pid in line.split()[1:]]
        elif not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"the children did not start; notices: {notices}")


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every process below `root` (the database's backends too)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and (started := start_time(pid)) is not None:
                found[pid] = started
                frontier.append(pid)
    return found


def _survivors(processes: dict[int, int], timeout_s: float = 20) -> dict[int, str]:
    """Those of `processes` (pid -> start time) still running after `timeout_s`, with their command lines."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = {pid for pid, started in processes.items() if start_time(pid) == started}
        if not alive:
            return {}
        time.sleep(0.1)
    return {pid: Path(f"/proc/{pid}/cmdline").read_text(errors="replace") for pid in alive}


def _kill_9(process: subprocess.Popen[str], children: list[int]) -> None:
    """SIGKILL the harness and require every process below it to end by itself."""
    below = _descendants(process.pid)
    assert set(children) <= set(below), (children, below)
    process.kill()
    process.wait(10)
    assert _survivors(below) == {}


def test_nothing_survives_kill_9_and_the_next_start_clears_leftovers(state: Path) -> None:
    first, notices, children = _start(state)
    assert notices == []
    broker = children[1]
    if os.geteuid() == 0:  # started as its own user, so that switching user cannot clear the parent-death signal
        assert Path(f"/proc/{broker}").stat().st_uid != 0
    _kill_9(first, children)

    # What an earlier version left: a broker started as root (it switched user itself and outlived its demo),
    # recorded in the state directory, and a lock file PostgreSQL refuses to start with.
    port = free_port()
    conf = state / "old-mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    old_broker = subprocess.Popen([radio.broker_binary() or "mosquitto", "-c", str(conf)], start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    record(state / "mosquitto" / "broker.pid", old_broker.pid)
    (state / "db" / "pg" / "postmaster.pid").write_text("garbage\n")
    second, notices, children = _start(state)
    try:
        with contextlib.suppress(subprocess.TimeoutExpired):
            old_broker.wait(15)
        assert old_broker.poll() is not None, "the second start left the earlier broker running"
        assert any(str(old_broker.pid) in line and "Mosquitto" in line for line in notices), notices
        assert any("postmaster.pid" in line for line in notices), notices
    finally:
        if old_broker.poll() is None:
            old_broker.send_signal(signal.SIGKILL)
        _kill_9(second, children)
