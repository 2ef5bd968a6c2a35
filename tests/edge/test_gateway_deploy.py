"""deploy/gateway: the systemd unit verifies, the agent speaks the sd_notify protocol to a NOTIFY_SOCKET, and
the install script parses."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge import sdnotify

GATEWAY = Path(__file__).parents[2] / "deploy" / "gateway"
TRYGGHEIM = str(Path(sys.executable).parent / "tryggheim")


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        # A skip under CI=true fails the run (tests/conftest.py): CI machines must have systemd-analyze.
        pytest.skip("systemd-analyze not installed")
    unit = (GATEWAY / "tryggheim-edge.service").read_text(encoding="utf-8")
    settings = [line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#")]
    assert ["Restart", "always"] in settings and ["Type", "notify"] in settings
    assert any(key == "WatchdogSec" and int(value) > 0 for key, value in settings)
    # verify checks that ExecStart exists: point it at this checkout's CLI instead of /opt/tryggheim.
    copy = tmp_path / "tryggheim-edge.service"
    copy.write_text(unit.replace("/opt/tryggheim/venv/bin/tryggheim", TRYGGHEIM), encoding="utf-8")
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "tryggheim-edge.service" not in result.stderr, result.stderr  # no warnings about our unit


def test_install_script_parses() -> None:
    result = subprocess.run(["sh", "-n", str(GATEWAY / "install.sh")], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    script = (GATEWAY / "install.sh").read_text()
    assert "tryggheim-edge.service" in script and "mosquitto.conf" in script


def test_notify_does_nothing_without_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.watchdog_interval() is None


@pytest.mark.slow
def test_agent_sends_ready_and_periodic_watchdog_to_notify_socket(tmp_path: Path) -> None:
    (tmp_path / "credential").write_text("not-used")
    (tmp_path / "gateway.toml").write_text(
        # A cloud nobody answers on: the agent must start and stay healthy without it.
        'cloud_url = "https://127.0.0.1:9"\ngateway_id = "g"\ncredential_file = "credential"\n'
        'outbox_path = "outbox.db"\n'
    )
    address = f"@tryggheim-test-{os.getpid()}-{time.monotonic_ns()}"  # abstract namespace, as systemd may use
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind("\0" + address[1:])
    receiver.settimeout(1.0)
    env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    agent = subprocess.Popen([TRYGGHEIM, "edge", "run", "--config", str(tmp_path / "gateway.toml")], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    received: list[tuple[float, str]] = []
    try:
        deadline = time.monotonic() + 30
        while sum(m == "WATCHDOG=1" for _, m in received) < 4 and time.monotonic() < deadline:
            try:
                received.append((time.monotonic(), receiver.recv(256).decode()))
            except TimeoutError:
                assert agent.poll() is None, agent.stderr.read().decode() if agent.stderr else ""
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
        while True:
            try:
                received.append((time.monotonic(), receiver.recv(256).decode()))
            except TimeoutError:
                break
    finally:
        if agent.poll() is None:
            agent.kill()
        receiver.close()
    messages = [m for _, m in received]
    assert messages[0] == "READY=1"
    beats = [at for at, m in received if m == "WATCHDOG=1"]
    assert len(beats) >= 4
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    # Every half timeout (0.2 s), not a burst: one late beat may shorten the gap to the next, so the
    # cadence is judged by the median, and no two beats may come back to back.
    assert 0.1 < statistics.median(gaps) < 0.4, gaps
    assert all(0.02 < gap < 1.0 for gap in gaps), gaps
    assert messages[-1] == "STOPPING=1"


def test_watchdog_health_fails_on_a_crashed_task_or_a_finished_core_task() -> None:
    from edge.agent import _healthy

    async def check() -> list[bool]:
        async def forever() -> None:
            await asyncio.Event().wait()

        async def crash() -> None:
            raise RuntimeError("adapter gone")

        async def finish() -> None:
            return None

        core = [asyncio.create_task(forever()) for _ in range(3)]
        finished, crashed = asyncio.create_task(finish()), asyncio.create_task(crash())
        await asyncio.sleep(0.01)
        results = [_healthy([*core, finished], core=3), _healthy([*core, crashed], core=3)]
        core[0].cancel()
        await asyncio.sleep(0.01)
        results.append(_healthy([*core, finished], core=3))
        for task in core:
            task.cancel()
        return results

    assert asyncio.run(check()) == [True, False, False]
