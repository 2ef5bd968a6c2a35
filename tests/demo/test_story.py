"""`make demo` as one story, on the real command: the guided tour's first three steps in Debian's Chromium while
the demo runs, then the milestones `--exit-when-ready` prints, and nothing it started left running.

The two tests share one demo (tests/demo/conftest.py) and run in this order on one worker."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from common.ports import free_port
from tests.demo.conftest import TIMEOUT_S, Demo
from tests.support.proc import TRYGGHEIM, env_with, processes_mentioning
from tests.web.browser import chromium

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo-story")]
MILESTONES = ("first_alert", "first_email", "first_sms", "worklist", "journaled")
TIMEOUT_MS = 60_000


def _sign_in(page: Page, username: str, password: str) -> None:
    page.goto("/signin")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("#password").press("Enter")
    page.wait_for_load_state()


def test_the_guided_tour_signs_in_acknowledges_karis_alert_and_opens_the_response_centre(demo: Demo) -> None:
    printed = "\n".join(demo.printed)
    # Numbered steps while it starts, then the sign-ins and the tour, all in bokmål.
    assert [line[:5] for line in demo.printed if re.match(r"\[\d/9\]", line)] == [f"[{i}/9]" for i in range(1, 10)]
    passwords = json.loads((demo.state / "demo-accounts.json").read_text())
    demo.read_until("  3. ")
    tour = "\n".join(demo.printed)
    signs_in = (("sykepleier", "demo.sykepleier"), ("responssenter", "demo.responssenter"),
                ("installatør", "demo.installator"), ("kommuneadministrator", "demo.admin"),
                ("revisor", "demo.revisor"), ("pasient", "demo.kari"), ("pårørende", "demo.parorende"))  # fmt: skip
    for role, user in signs_in:
        assert re.search(rf"{role}\s+{user}\s+{re.escape(passwords[user])}", tour), (role, tour)
    assert (
        "1. Logg inn som sykepleier" in tour and "2. Kvitter Karis varsel" in tour and "3. Åpne responssenteret" in tour
    )
    assert '"level"' not in printed, "a JSON log line reached the console"
    with chromium() as browser:
        nurse = browser.new_context(base_url=demo.url, locale="nb-NO").new_page()
        nurse.set_default_timeout(TIMEOUT_MS)
        # 1. Sign in as the nurse: the worklist shows Kari with an alert.
        _sign_in(nurse, "demo.sykepleier", passwords["demo.sykepleier"])
        assert nurse.url == f"{demo.url}/", nurse.locator("main").inner_text()
        kari = nurse.locator("article.patient", has_text="Kari Nordmann")
        for _ in range(30):  # her alerts open once her agent's history is in: a few seconds into the demo
            if kari.locator(".alert-row").count():
                break
            time.sleep(2)
            nurse.reload()
        row = kari.locator(".alert-row").first
        alert_id = row.get_attribute("data-alert-id")
        # 2. Acknowledge Kari's alert on its page.
        nurse.goto(f"/alerts/{alert_id}")
        nurse.locator("#acknowledge-form button[type=submit]").click()
        nurse.wait_for_selector(".state-acknowledged")
        assert "Kvittert" in nurse.locator("main").inner_text()
        # 3. Open the response centre: Per's alarm button press waits there.
        centre = browser.new_context(base_url=demo.url, locale="nb-NO").new_page()
        centre.set_default_timeout(TIMEOUT_MS)
        _sign_in(centre, "demo.responssenter", passwords["demo.responssenter"])
        centre.goto("/response-centre")
        assert centre.locator("h1").inner_text() == "Responssenter"
        for _ in range(30):
            if "Per Hansen" in centre.locator("main").inner_text():
                break
            time.sleep(2)
            centre.reload()
        assert "Per Hansen (demo)" in centre.locator("main").inner_text()
    _every_patient_of_the_nurse_has_readings(demo.url, passwords["demo.sykepleier"])


def _every_patient_of_the_nurse_has_readings(url: str, password: str) -> None:
    """The README's story: the nurse's care team is Kari, Ola, Per and Berit, and each has readings."""
    with httpx.Client(base_url=url, timeout=30) as nurse:
        nurse.post("/auth/login", json={"username": "demo.sykepleier", "password": password}).raise_for_status()
        patients = {p["display_name"]: p["id"] for p in nurse.get("/api/v1/patients").json()}
        assert set(patients) == {"Kari Nordmann (demo)", "Ola Nordmann (demo)", "Per Hansen (demo)",
                                 "Berit Hansen (demo)"}, patients  # fmt: skip
        for name, patient in patients.items():
            for _ in range(30):  # Berit's blood pressure comes from the replayed monitor's first session
                latest = nurse.get(f"/api/v1/patients/{patient}/latest")
                if latest.status_code != 200 or latest.json():
                    break
                time.sleep(1)
            assert latest.status_code == 200 and latest.json(), (name, latest.text)


def test_exit_when_ready_prints_every_milestone_and_leaves_nothing_running(demo: Demo) -> None:
    lines = demo.rest(timeout=TIMEOUT_S + 60)
    assert demo.process.returncode == 0, lines[-20:]
    found = {
        m.group(1): float(m.group(2)) for line in lines if (m := re.fullmatch(r"milestone (\w+) ([\d.]+) s", line))
    }
    assert set(found) == set(MILESTONES), lines[-20:]
    assert all(0 < seconds < TIMEOUT_S for seconds in found.values()), found
    print(f"start -> first alert {found['first_alert']:.1f} s, -> first journaled alert {found['journaled']:.1f} s")
    # The escalation e-mails and SMS were printed as people read them, and the log stayed in its file.
    assert any(line.startswith("E-post til ") for line in lines) and any(line.startswith("SMS til ") for line in lines)
    assert (demo.state / "logs" / "demo.log").stat().st_size > 0
    # Nothing it started is left: no process names its state directory (database, agents, brokers), its
    # port is free again, and it has no children.
    assert processes_mentioning(str(demo.state)) == []
    assert _children(demo.process.pid) == []
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the clients' closed connections linger
        probe.bind(("127.0.0.1", demo.port))


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if re.search(rf"^PPid:\s+{pid}$", text, re.M):
            found.append(int(status.parent.name))
    return found


def test_a_port_already_taken_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port := free_port()))
        taken.listen()
        env = env_with(TRYGGHEIM_STATE_DIR=str(tmp_path / "state"), TRYGGHEIM_PORT=str(port))
        done = subprocess.run([TRYGGHEIM, "demo"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done
    assert done.stderr.strip() == f"tryggheim: port {port} er opptatt; sett TRYGGHEIM_PORT til en ledig port", done
    assert "Traceback" not in done.stdout + done.stderr


def test_an_unreadable_password_file_is_one_clear_line_and_is_left_as_it_was(tmp_path: Path) -> None:
    """The accounts in the demo's database have the file's passwords: new ones would sign nobody in."""
    state = tmp_path / "state"
    state.mkdir()
    garbled = state / "demo-accounts.json"
    garbled.write_text('{"demo.sykepleier": "abc')
    env = env_with(TRYGGHEIM_STATE_DIR=str(state), TRYGGHEIM_PORT=str(free_port()))
    done = subprocess.run([TRYGGHEIM, "demo"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"tryggheim: demoens passord kan ikke leses ({garbled}: ") and "--state-dir" in line, line
    assert "Traceback" not in done.stdout + done.stderr
    assert garbled.read_text() == '{"demo.sykepleier": "abc'
    garbled.write_text('["not", "a", "mapping"]')
    done = subprocess.run([TRYGGHEIM, "demo"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "not an object of user names and passwords" in done.stderr, done
