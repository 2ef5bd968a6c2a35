"""A fleet in each municipality, every gateway enrolled and reporting through the real endpoints, each
built to match exactly one fleet filter (or none). Municipality B has the same troubles, so a filter that
leaked across municipalities would list B's gateways."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.support.fixtures import app_fixtures
from tests.support.history import point, send
from tests.support.kits import Kit, enrol_kit, reading
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


@dataclass
class Fleet:
    """One municipality's kits by what is wrong with them."""

    healthy: Kit  # alarm kit (60 s heartbeat), heartbeat now, batteries fine, clean data
    late_alarm: Kit  # alarm kit, last heartbeat 5 minutes ago: offline (3 x 60 s)
    late_quiet: Kit  # no alarm device (5 min heartbeat), last heartbeat 5 minutes ago: online
    silent: Kit  # enrolled, never sent a heartbeat: offline
    low_reported: Kit  # the heartbeat reports a device at 12 %
    low_measured: Kit  # no battery in the heartbeat; the newest device.battery reading is 15 %
    garbage: Kit  # 30 bad readings in the last day
    misconfigured: Kit  # 30 readings from an unregistered device: quarantined, but not garbage
    one_bad: Kit  # 1 bad reading
    over_quota: Kit  # 2,010 readings from an unregistered device in one hour: 10 over the default quota of 2,000

    def all(self) -> dict[str, Kit]:
        """Every kit by name."""
        return dict(vars(self))


def heartbeat(client: TestClient, kit: Kit, batteries: dict[str, float] | None = None, **extra: Any) -> None:
    """A heartbeat as the edge agent sends it, with optional battery levels by device address."""
    now = datetime.now(UTC)
    levels = {kit.scale: None, kit.oximeter: None, kit.button: None, **(batteries or {})}
    devices = [
        {"address": a, "last_seen": now.isoformat(), **({"battery_pct": b} if b is not None else {})}
        for a, b in levels.items()
    ]
    body = {"software_version": "0.9.1", "uptime_s": 3600, "gateway_clock": (now + timedelta(seconds=2)).isoformat(),
            "outbox_depth": 4, "outbox_evictions": 1, "watchdog_restarts": 2, "devices": devices, **extra}  # fmt: skip
    response = client.post(f"/api/v1/gateways/{kit.gateway_id}/status", json=body, headers=kit.auth)
    assert response.status_code == 200, response.text


def _age_heartbeat(url: str, kit: Kit, minutes: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE gateway_status SET reported_at = reported_at - make_interval(mins => %s) "
                     "WHERE gateway_id = %s", (minutes, kit.gateway_id))  # fmt: skip


def _retire_button(url: str, kit: Kit) -> None:
    """End the alarm button's registration: the kit keeps only routine devices."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE device_registrations SET valid = tstzrange(lower(valid), now()) WHERE device_id = %s",
                     (kit.device_ids[kit.button],))  # fmt: skip


def build_fleet(client: TestClient, url: str, municipality_id: Any, patient_id: Any, marker: str) -> Fleet:
    """Ten kits, labelled with the municipality's marker, in the states their names say."""
    kits = {name: enrol_kit(client, url, municipality_id, patient_id) for name in Fleet.__dataclass_fields__}
    fleet = Fleet(**kits)
    with psycopg.connect(url, autocommit=True) as conn:
        for name, kit in kits.items():
            conn.execute("UPDATE gateways SET label = %s WHERE id = %s", (f"{name} {marker}", kit.gateway_id))
    _retire_button(url, fleet.late_quiet)
    _retire_button(url, fleet.low_measured)
    for name, kit in kits.items():
        if name == "silent":
            continue
        batteries = {kit.scale: 12.0} if name == "low_reported" else {kit.scale: 80.0, kit.oximeter: 90.0}
        if name == "low_measured":
            batteries = {}
        heartbeat(client, kit, batteries)
    _age_heartbeat(url, fleet.late_alarm, 5)
    _age_heartbeat(url, fleet.late_quiet, 5)
    now = datetime.now(UTC)
    scale = fleet.low_measured.scale
    levels = [(60, now - timedelta(hours=2)), (15, now - timedelta(minutes=3))]
    reply = send(client, fleet.low_measured, [point(scale, "device.battery", v, "%", at) for v, at in levels])
    assert reply["stored"] == 2
    send(client, fleet.garbage, [reading(i + 1, fleet.garbage.scale, value="eighty") for i in range(30)])
    send(client, fleet.misconfigured, [reading(i + 1, "not-registered-anywhere") for i in range(30)])
    send(client, fleet.one_bad, [reading(1, fleet.one_bad.scale, value="eighty"), reading(2, fleet.one_bad.scale)])
    flood = send(client, fleet.over_quota, [reading(i + 1, "not-registered-either") for i in range(2010)])
    assert flood["quarantined"] == {"unknown_device": 2000, "over_quota": 10}
    send(client, fleet.healthy, [reading(i + 1, fleet.healthy.scale, value=80 + i / 10) for i in range(5)])
    return fleet


fleet_db, tenants, client = app_fixtures("fleet_db", scope="package", evaluation=False)


@pytest.fixture(scope="package")
def fleets(client: TestClient, fleet_db: TestDatabase, tenants: Tenants) -> dict[str, Fleet]:
    """Municipality A's and B's fleets."""
    return {
        key: build_fleet(client, fleet_db.runtime_url, t.municipality_id, t.patients["nord"], t.marker)
        for key, t in (("b", tenants.b), ("a", tenants.a))
    }
