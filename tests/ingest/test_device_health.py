"""Each device's health from the heartbeat to the fleet API and the gateway's page: every figure checked on its
own (a bad one is named in a 422 and the rest is stored), a figure left out keeps its value, times corrected
by the gateway's clock skew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from cloud.access.roles import Role
from tests.support.kits import Kit
from tests.support.tenants import Tenants

AHEAD_S = 120  # the gateway's clock runs two minutes ahead


def _beat(client: TestClient, kit: Kit, devices: list[Any], **extra: Any) -> Any:
    now = datetime.now(UTC) + timedelta(seconds=AHEAD_S)
    body = {"software_version": "0.9.2", "uptime_s": 60, "gateway_clock": now.isoformat(), "outbox_depth": 0,
            "devices": devices, **extra}  # fmt: skip
    return client.post(f"/api/v1/gateways/{kit.gateway_id}/status", json=body, headers=kit.auth)


def _devices(client: TestClient, tenants: Tenants, kit: Kit) -> dict[str, Any]:
    response = client.get(f"/api/v1/fleet/gateways/{kit.gateway_id}", headers=tenants.a.auth(Role.INSTALLER))
    assert response.status_code == 200, response.text
    return {d["address"]: d for d in response.json()["devices"]}


def test_device_health_is_checked_figure_by_figure_stored_and_shown(
    client: TestClient, kit: Kit, tenants: Tenants
) -> None:
    gateway_now = (datetime.now(UTC) + timedelta(seconds=AHEAD_S)).isoformat()
    reply = _beat(client, kit, [
        {"address": kit.scale, "last_reading_at": gateway_now, "battery_pct": 18, "battery_at": gateway_now,
         "rssi_dbm": -70, "signal_at": gateway_now, "decode_errors": 3, "connection_errors": 1},
        {"address": kit.oximeter, "battery_pct": 150, "rssi_dbm": "strong", "decode_errors": 2},
        {"address": "", "battery_pct": 50},
        "not a device",
        {"address": kit.button, "link_quality": 300, "last_reading_at": "2026-12-04T08:00:00"},
    ])  # fmt: skip
    assert reply.status_code == 422 and reply.json()["recorded"] is True
    refused = {tuple(item["loc"]): item["type"] for item in reply.json()["detail"]}
    assert refused == {
        ("body", "devices", 1, "battery_pct"): "less_than_equal",
        ("body", "devices", 1, "rssi_dbm"): "int_parsing",
        ("body", "devices", 2, "address"): "string_too_short",
        ("body", "devices", 3): "dict_type",
        ("body", "devices", 4, "link_quality"): "less_than_equal",
        ("body", "devices", 4, "last_reading_at"): "timezone_aware",
    }
    assert 110 < reply.json()["clock_skew_s"] < 130 and "strong" not in reply.text  # the input is not repeated

    shown = _devices(client, tenants, kit)
    scale, oximeter, button = shown[kit.scale], shown[kit.oximeter], shown[kit.button]
    assert (scale["battery_pct"], scale["low_battery"], scale["rssi_dbm"]) == (18, True, -70)
    assert (scale["decode_errors"], scale["connection_errors"]) == (3, 1)
    # The gateway's times less its skew: about now, not two minutes ahead.
    for at in (scale["last_reading_at"], scale["battery_at"], scale["signal_at"]):
        assert abs(datetime.fromisoformat(at) - datetime.now(UTC)) < timedelta(seconds=30)
    assert (oximeter["battery_pct"], oximeter["rssi_dbm"], oximeter["decode_errors"]) == (None, None, 2)
    assert (button["link_quality"], button["last_reading_at"]) == (None, None) and button["health_reported_at"]

    # A later heartbeat without the battery keeps it; the signal moves on.
    assert _beat(client, kit, [{"address": kit.scale, "rssi_dbm": -58, "decode_errors": 4}]).status_code == 200
    scale = _devices(client, tenants, kit)[kit.scale]
    assert (scale["battery_pct"], scale["rssi_dbm"], scale["decode_errors"], scale["connection_errors"]) == (
        18, -58, 4, 1)  # fmt: skip

    # A gateway figure out of range refuses the whole heartbeat: nothing of it is stored.
    before = scale["health_reported_at"]
    bad = _beat(client, kit, [{"address": kit.scale, "rssi_dbm": -40}], outbox_depth=-1)
    assert bad.status_code == 422 and "recorded" not in bad.json()
    assert [tuple(item["loc"]) for item in bad.json()["detail"]] == [("body", "outbox_depth")]
    scale = _devices(client, tenants, kit)[kit.scale]
    assert (scale["rssi_dbm"], scale["health_reported_at"]) == (-58, before)

    page = client.get(f"/fleet/gateways/{kit.gateway_id}", headers={**tenants.a.auth(Role.INSTALLER),
                                                                     "Accept": "text/html"})  # fmt: skip
    assert page.status_code == 200 and "Enhetenes helse" in page.text
    row = page.text.split(f'data-device-health="{kit.scale}"')[1].split("</tr>")[0]
    assert 'class="fleet-bad">18 %' in row and "-58 dBm" in row


def test_the_local_alarm_paths_record_goes_from_the_heartbeat_to_the_fleet_api_and_page(
    client: TestClient, kit: Kit, tenants: Tenants
) -> None:
    """A siren that stopped answering should show on the fleet before the day the uplink is down."""
    installer = {**tenants.a.auth(Role.INSTALLER), "Accept": "text/html"}
    assert _beat(client, kit, [], local_alarms_raised=-1).status_code == 422
    assert _beat(client, kit, [], local_alarms_raised=3, local_alarm_failures=2).status_code == 200
    health = client.get(f"/api/v1/fleet/gateways/{kit.gateway_id}", headers=tenants.a.auth(Role.INSTALLER)).json()
    assert (health["local_alarms_raised"], health["local_alarm_failures"]) == (3, 2)
    page = client.get(f"/fleet/gateways/{kit.gateway_id}", headers=installer).text
    assert page.split('id="local-alarm-path">')[1].split("</dd>")[0] == "utløst 3, feilet 2"
    # A gateway that does not report the figures (software before them) shows nothing rather than 0.
    assert _beat(client, kit, []).status_code == 200
    health = client.get(f"/api/v1/fleet/gateways/{kit.gateway_id}", headers=tenants.a.auth(Role.INSTALLER)).json()
    assert (health["local_alarms_raised"], health["local_alarm_failures"]) == (None, None)
    page = client.get(f"/fleet/gateways/{kit.gateway_id}", headers=installer).text
    assert page.split('id="local-alarm-path">')[1].split("</dd>")[0] == "–"
