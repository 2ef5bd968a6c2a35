"""`tryggheim edge enrol` against a real `tryggheim cloud serve`: with a code made on the pages it keeps asking
while the cloud answers that the installer has not confirmed the home, and enrols as soon as they do; it gives
up when its waiting time is over, saying why."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from cloud.access.roles import Role
from edge.enrol import EnrolmentError, enrol
from tests.support.tenants import Tenants

pytestmark = pytest.mark.slow


def _code(http: httpx.Client, tenants: Tenants) -> tuple[str, int]:
    installer = tenants.a.auth(Role.INSTALLER)
    home = http.post("/api/v1/homes", json={"address": "Venteveien 1"}, headers=installer).json()["id"]
    made = http.post(f"/api/v1/homes/{home}/enrolment-codes", headers=installer).json()
    return made["code"], made["enrolment"]["id"]


def test_the_gateway_waits_for_the_installers_confirmation_then_enrols(
    server: str, tenants: Tenants, tmp_path: Path
) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        code, enrolment = _code(http, tenants)
        waits: list[str] = []
        result: list[str] = []

        def run() -> None:
            result.append(enrol(server, code, tmp_path / "gateway.toml", insecure_dev=True, wait_s=30, every_s=0.2,
                                on_wait=waits.append))  # fmt: skip

        gateway = threading.Thread(target=run)
        gateway.start()
        deadline = time.monotonic() + 10
        while not waits and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waits and not result  # told to wait, still waiting
        confirmed = http.post(f"/api/v1/enrolments/{enrolment}/confirm", headers=tenants.a.auth(Role.INSTALLER))
        assert confirmed.status_code == 200 and confirmed.json()["state"] == "ready"
        gateway.join(10)
        assert result and (tmp_path / "credential").exists()
        assert f'gateway_id = "{result[0]}"' in (tmp_path / "gateway.toml").read_text()


def test_the_gateway_gives_up_when_its_waiting_time_is_over(server: str, tenants: Tenants, tmp_path: Path) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        code, _ = _code(http, tenants)
    with pytest.raises(EnrolmentError, match="409"):
        enrol(server, code, tmp_path / "gateway.toml", insecure_dev=True, wait_s=0.5, every_s=0.2)
    assert not (tmp_path / "credential").exists()
