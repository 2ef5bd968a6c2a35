"""The fleet API: each filter with gateways that match and gateways that do not, the figures the heartbeat
and quarantine feed, pagination, roles and municipality scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.fleet.conftest import Fleet
from tests.support.tenants import Tenants

pytestmark = pytest.mark.xdist_group("fleet")  # one worker builds the package's data once
URL = "/api/v1/fleet/gateways"


def _list(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get(URL, params={"limit": 1000, **params}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _names(fleet: Fleet, items: list[dict[str, Any]]) -> set[str]:
    by_id = {str(kit.gateway_id): name for name, kit in fleet.all().items()}
    assert {i["gateway_id"] for i in items} <= set(by_id), "a gateway that is not this municipality's"
    return {by_id[i["gateway_id"]] for i in items}


@pytest.mark.parametrize(
    ("params", "matching"),
    [
        ({"offline": True}, {"late_alarm", "silent"}),
        ({"low_battery": True}, {"low_reported", "low_measured"}),
        ({"low_battery": True, "battery_below": 13}, {"low_reported"}),
        ({"garbage": True, "garbage_per_hour": 1}, {"garbage"}),
        ({"garbage": True, "garbage_per_hour": 0.01}, {"garbage", "one_bad"}),
        ({"offline": True, "missed_heartbeats": 6}, {"silent"}),  # 5 minutes late is within 6 x 60 s
        ({"quarantine_quota_exceeded": True}, {"over_quota"}),
    ],
)
def test_each_filter_lists_exactly_the_gateways_it_describes(
    client: TestClient, tenants: Tenants, fleets: dict[str, Fleet], params: dict[str, Any], matching: set[str]
) -> None:
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    fleet = fleets["a"]
    assert _names(fleet, _list(client, admin, **params)) == matching
    inverse = {k: (not v if isinstance(v, bool) else v) for k, v in params.items()}
    assert _names(fleet, _list(client, admin, **inverse)) == set(fleet.all()) - matching


def test_the_figures_come_from_heartbeat_quarantine_and_battery_readings(
    client: TestClient, tenants: Tenants, fleets: dict[str, Fleet]
) -> None:
    fleet = fleets["a"]
    items = {name: item for item in _list(client, tenants.a.auth(Role.INSTALLER))
             for name in _names(fleet, [item])}  # fmt: skip
    healthy = items["healthy"]
    assert (healthy["outbox_depth"], healthy["outbox_evictions"], healthy["watchdog_restarts"]) == (4, 1, 2)
    assert healthy["software_version"] == "0.9.1" and healthy["heartbeat_interval_s"] == 60
    assert 0 < healthy["clock_skew_s"] < 10 and not healthy["clock_flagged"]
    assert datetime.now(UTC) - datetime.fromisoformat(healthy["last_seen"]) < timedelta(minutes=5)
    assert {d["address"]: d["battery_pct"] for d in healthy["devices"]} == {
        fleet.healthy.scale: 80.0,
        fleet.healthy.oximeter: 90.0,
        fleet.healthy.button: None,
    }
    assert healthy["quarantined"] == {} and not (healthy["offline"] or healthy["low_battery"] or healthy["garbage"])
    assert items["late_quiet"]["heartbeat_interval_s"] == 300  # no alarm device left: the long interval
    assert items["silent"]["last_seen"] is None and items["silent"]["offline"]
    measured = {d["address"]: d for d in items["low_measured"]["devices"]}[fleet.low_measured.scale]
    assert measured["battery_pct"] == 15 and items["low_measured"]["lowest_battery"] == 15
    assert datetime.now(UTC) - datetime.fromisoformat(measured["battery_at"]) < timedelta(minutes=10)
    assert items["garbage"]["quarantined"] == {"malformed": 30}
    assert items["garbage"]["garbage_per_hour"] == 1.25  # 30 in the 24-hour window
    assert items["misconfigured"]["quarantined"] == {"unknown_device": 30}
    assert items["misconfigured"]["garbage_per_hour"] == 0  # the registry's to fix, not the kit's
    over = items["over_quota"]
    assert over["quarantined"] == {"unknown_device": 2000} and over["quarantine_overflow"] == 10
    assert over["quarantine_quota_exceeded"] and not over["garbage"]
    assert all(item["quarantine_overflow"] == 0 for name, item in items.items() if name != "over_quota")


def test_pages_cover_the_fleet_once(client: TestClient, tenants: Tenants, fleets: dict[str, Fleet]) -> None:
    admin = tenants.a.auth(Role.MUNICIPALITY_ADMIN)
    seen: list[str] = []
    after = None
    while True:
        page = client.get(URL, params={"limit": 4, **({"after": after} if after else {})}, headers=admin).json()
        seen += [item["gateway_id"] for item in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    assert sorted(seen) == seen and len(set(seen)) == len(seen)
    assert set(seen) == {str(kit.gateway_id) for kit in fleets["a"].all().values()}


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.MUNICIPALITY_ADMIN, 200), (Role.INSTALLER, 200), (Role.TEAM_LEAD, 200), (Role.NURSE, 200),
     (Role.RESPONSE_CENTRE, 200), (Role.AUDITOR, 403)],
)  # fmt: skip
def test_roles_and_municipality_scope(
    client: TestClient, tenants: Tenants, fleets: dict[str, Fleet], role: Role, status: int
) -> None:
    for tenant, own, other in ((tenants.a, fleets["a"], fleets["b"]), (tenants.b, fleets["b"], fleets["a"])):
        response = client.get(URL, params={"include_revoked": True, "limit": 1000}, headers=tenant.auth(role))
        assert response.status_code == status, response.text
        foreign = tenants.b.marker if tenant is tenants.a else tenants.a.marker
        assert foreign not in response.text
        if status == 200:
            assert _names(own, response.json()["items"]) == set(own.all())
        mine = client.get(f"{URL}/{own.garbage.gateway_id}", headers=tenant.auth(role))
        theirs = client.get(f"{URL}/{other.garbage.gateway_id}", headers=tenant.auth(role))
        assert mine.status_code == status
        assert theirs.status_code == (404 if status == 200 else status)
        assert foreign not in theirs.text
    assert client.get(URL).status_code == 401
