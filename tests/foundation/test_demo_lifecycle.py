"""`tryggheim demo` on its embedded database: start, stop cleanly, recover after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.ports import free_port
from tests.access.live_server import Stream, session_of
from tests.support.proc import TRYGGHEIM, env_with, processes_mentioning, reachable_state_dir, wait_for_line
from tryggheim.demo.seed import stored_passwords

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo")]


@pytest.fixture
def state() -> Iterator[Path]:
    """A state directory the database and broker users can reach."""
    with reachable_state_dir("trgt-demo-") as path:
        yield path


def _start_demo(state_dir: Path, port: int, printed: list[str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start the demo; returns once it prints its URL, with the lines before it added to `printed`."""
    process = subprocess.Popen(
        [TRYGGHEIM, "demo"],
        env=env_with(TRYGGHEIM_STATE_DIR=str(state_dir), TRYGGHEIM_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    while not (url := wait_for_line(process, "", timeout=90)).startswith("http://"):
        (printed if printed is not None else []).append(url)
    return process, url


def _signed_in_get(url: str, username: str, password: str, path: str) -> Any:
    """GET `path` as JSON after signing in with a demo account."""
    with httpx.Client(base_url=url, timeout=10) as client:
        client.post("/auth/login", json={"username": username, "password": password}).raise_for_status()
        response = client.get(path)
        response.raise_for_status()
        return response.json()


def _resolving_journals(url: str, passwords: dict[str, str], alert_id: int) -> dict[str, Any]:
    """The response centre closes the alarm; its journal note reaches the demo's VKP (the journal state, once
    it says so)."""
    with httpx.Client(base_url=url, timeout=10) as centre:
        login = {"username": "demo.responssenter", "password": passwords["demo.responssenter"]}
        signed_in = centre.post("/auth/login", json=login)
        signed_in.raise_for_status()
        done = centre.post(f"/api/v1/alerts/{alert_id}/outcomes", json={"outcome": "done", "note": "Hjulpet opp"},
                           headers={"X-CSRF-Token": signed_in.json()["csrf_token"]})  # fmt: skip
        assert done.status_code == 201, done.text
        deadline = time.monotonic() + 30
        while (state := centre.get(f"/api/v1/alerts/{alert_id}/journal").json())["state"] != "journaled":
            assert time.monotonic() < deadline, state
            time.sleep(0.5)
        return dict(state)


def _kari_sees_the_nurse(url: str, passwords: dict[str, str]) -> None:
    """Kari signs in with her own account; the nurse opens her record; Kari's page lists the nurse, and her son
    signs in to her page as her relative."""
    with httpx.Client(base_url=url, timeout=10) as kari, httpx.Client(base_url=url, timeout=10) as son:
        landed = kari.post("/signin", data={"username": "demo.kari", "password": passwords["demo.kari"]})
        assert landed.status_code == 303 and landed.headers["location"] == "/me", landed.text
        record = kari.get("/api/v1/citizen/record").json()
        assert record["display_name"] == "Kari Nordmann (demo)"
        opened = _signed_in_get(
            url, "demo.sykepleier", passwords["demo.sykepleier"], f"/api/v1/patients/{record['id']}"
        )
        assert opened["id"] == record["id"]
        log = kari.get("/api/v1/citizen/access-log").json()
        assert any(entry["display_name"] == "Sykepleier Demo" for entry in log), log
        assert "Hvem har sett i journalen min" in kari.get("/me").text
        son.post("/signin", data={"username": "demo.parorende", "password": passwords["demo.parorende"]})
        assert son.get(f"/relative/{record['id']}").status_code == 200


def _healthz(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:  # noqa: S310 - loopback URL
        assert response.status == 200
        return json.loads(response.read())


def _data_dir_of(state_dir: Path) -> str:
    """The data directory of the postgres listening on the port this demo recorded."""
    for pid in processes_mentioning("postgres -D"):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        data_dir = cmdline[cmdline.index(b"-D") + 1].decode()
        port_file = state_dir / "db" / "pg-port"
        if port_file.exists() and port_file.read_text() in " ".join(x.decode() for x in cmdline):
            return data_dir
    raise AssertionError("no postgres of this demo is running")


def _wait_gone(text: str, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = processes_mentioning(text)
        if not left:
            return []
        time.sleep(0.1)
    return processes_mentioning(text)


def _stop(process: subprocess.Popen[str], stop_signal: signal.Signals) -> None:
    process.send_signal(stop_signal)
    assert process.wait(60) == 0


def _assert_all_gone(state: Path, data_dir: str) -> None:
    """Neither the demo's database nor any of its edge agents or brokers outlives it."""
    assert _wait_gone(data_dir, timeout=10) == []
    assert _wait_gone(f"{state}/edge/", timeout=10) == []


def _parent(pid: int) -> int | None:
    """The parent's PID (None once the process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])  # the command name, in parentheses, may hold spaces


def _how_it_stopped(state: Path) -> str:
    """What the service, the agents and the database logged while stopping (for a failure's message)."""
    loggers = ('"uvicorn', '"cloud.serve"', '"tryggheim.demo')
    lines = [line for line in (state / "logs" / "demo.log").read_text().splitlines() if any(n in line for n in loggers)]
    lines = lines[-8:]
    for log in sorted((state / "edge").glob("home-*/agent.log")):
        lines += [f"{log.parent.name}: {line}" for line in log.read_text().splitlines()[-2:]]
    lines += (state / "db" / "postgresql.log").read_text().splitlines()[-6:]
    return "\n".join(line[:300] for line in lines)


def test_ctrl_c_with_every_home_running_leaves_nothing_running(state: Path) -> None:
    # The story is the test above; this one only needs everything the demo starts to be up when Ctrl-C comes,
    # and the nurse's worklist open in a browser, as it is for whoever runs the demo.
    process, url = _start_demo(state, free_port())
    try:
        assert wait_for_line(process, "Trykk Ctrl-C", timeout=90)  # printed once every home runs
        # Kari's, Ola's and Per and Berit's agents, the couple's Mosquitto and the fourth kit's agent (which may
        # still have its configuration-validating child, edge/validated.py: forked, so with the same command line).
        mentioning = processes_mentioning(f"{state}/edge/home-")
        assert len([pid for pid in mentioning if _parent(pid) not in mentioning]) == 5
        data_dir = _data_dir_of(state)
        with httpx.Client(base_url=url, timeout=10) as client:
            nurse = session_of(client, "demo.sykepleier", stored_passwords(state)["demo.sykepleier"])
        worklist = Stream(url, {"Cookie": f"trygg_session={nurse.cookie}"})
    finally:
        asked, asked_at = time.monotonic(), datetime.now(UTC)
        _stop(process, signal.SIGINT)
    took = time.monotonic() - asked
    assert took < 10, f"Ctrl-C at {asked_at:%H:%M:%S.%f} took {took:.1f} s; its stop:\n{_how_it_stopped(state)}"
    assert worklist.ended.is_set()
    _assert_all_gone(state, data_dir)


def test_demo_recovers_after_kill_9(state: Path) -> None:
    process, _url = _start_demo(state, free_port())
    data_dir = _data_dir_of(state)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)

    # The next start finds the old postmaster.pid and still comes up cleanly.
    second, url2 = _start_demo(state, free_port())
    try:
        assert _healthz(url2)["status"] == "ok"
    finally:
        second.terminate()
        assert second.wait(30) == 0
    assert _wait_gone(data_dir, timeout=10) == []


def test_orphaned_server_shuts_itself_down_after_its_parent_is_killed(state: Path) -> None:
    process, _ = _start_demo(state, free_port())
    data_dir = _data_dir_of(state)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    assert _wait_gone(data_dir, timeout=30) == [], "the parent-death signal did not stop postgres"
