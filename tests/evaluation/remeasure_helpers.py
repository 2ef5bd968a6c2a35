"""A patient with a blood-pressure monitor and an oximeter whose readings are made by the real decoders from
bytes written after the Bluetooth SIG specifications (0x2A35 Blood Pressure Measurement, 0x2A5E PLX
Spot-Check Measurement), so the status flags reach the cloud in the shape the gateway sends them."""

from __future__ import annotations

import asyncio
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from cloud.access.roles import Role
from cloud.db.pool import connect
from cloud.gateways import devices
from device_profiles import decode_characteristic
from tests.evaluation.conftest import new_patient
from tests.support.kits import Kit, batch, enrol_kit, reading
from tests.support.tenants import Tenants

# Measurement-status bits (0x2A35) and device/sensor-status bits (0x2A5E) by the names the decoders give them.
BP_STATUS = {"body_movement": 0x0001, "cuff_too_loose": 0x0002, "irregular_pulse": 0x0004, "improper_position": 0x0020}
PLX_SENSOR_STATUS = {"low_perfusion": 1 << 5}
FLAGS = ("body_movement", "cuff_too_loose", "improper_position", "low_perfusion")
RULE_OF = {"bp.systolic": "hf.systolic", "spo2": "hf.spo2"}


def _sfloat(value: int) -> bytes:
    return struct.pack("<H", value & 0x0FFF)  # exponent 0


def blood_pressure(systolic: int, diastolic: int, status: int) -> bytes:
    """0x2A35: mmHg, pulse rate and measurement status present (flags 0x14)."""
    return (
        bytes([0x14])
        + _sfloat(systolic)
        + _sfloat(diastolic)
        + _sfloat((systolic + 2 * diastolic) // 3)
        + (_sfloat(70) + struct.pack("<H", status))
    )


def spot_check(spo2: int, sensor_status: int) -> bytes:
    """0x2A5E: SpO2 and pulse rate with the device and sensor status present (flags 0x04)."""
    return bytes([0x04]) + _sfloat(spo2) + _sfloat(72) + struct.pack("<I", sensor_status)[:3]


@dataclass
class Home:
    """The patient's kit and the address of their blood-pressure monitor."""

    kit: Kit
    monitor: str
    seq: int = 0

    @property
    def patient_id(self) -> UUID:
        """The patient's id."""
        return self.kit.patient_id

    def readings(self, metric: str, value: int, flag: str | None, at: datetime) -> list[dict[str, Any]]:
        """The wire readings one measurement of `metric` ("bp.systolic" or "spo2") decodes to, with the status
        flags named in `flag` set (several joined by "+")."""
        names = flag.split("+") if flag else []
        if metric == "bp.systolic":
            status = sum(BP_STATUS[name] for name in names)
            uuid_, payload, device = 0x2A35, blood_pressure(value, 62, status), self.monitor
        else:
            status = sum(PLX_SENSOR_STATUS[name] for name in names)
            uuid_, payload, device = 0x2A5E, spot_check(value, status), self.kit.oximeter
        decoded = decode_characteristic(uuid_, payload, device_id=device, received_at=at)
        out = []
        for o in decoded.observations:
            self.seq += 1
            out.append(reading(self.seq, device, o.metric, o.value, o.unit, measured_at=at, context=dict(o.context)))
        return out

    def send(self, client: TestClient, metric: str, value: int, flag: str | None, at: datetime) -> None:
        """Upload one measurement through the ingest route, as the gateway does."""
        body = batch(self.kit, self.readings(metric, value, flag, at))
        response = client.post("/api/v1/ingest", json=body, headers=self.kit.auth)
        assert response.status_code == 200, response.text


async def _monitor(url: str, kit: Kit, set_by: UUID) -> str:
    address = ":".join(f"{b:02X}" for b in uuid.uuid4().bytes[:6])
    since = datetime.now(UTC) - timedelta(days=1)
    async with await connect(url) as conn:
        device = await devices.register(
            conn, gateway_id=kit.gateway_id, address=address, profile_id="and-ua-651ble", valid_from=since
        )
        await devices.assign(conn, device_id=device, patient_id=kit.patient_id, valid_from=since)
        await conn.execute(
            "INSERT INTO patient_protocols (patient_id, protocols) VALUES (%s, '{heart_failure}')", (kit.patient_id,)
        )
        for rule in RULE_OF.values():  # judge single readings, so one reading is enough to alert
            await conn.execute(
                "INSERT INTO rule_overrides (municipality_id, patient_id, rule, params, reason, set_by, review_by) "
                "SELECT municipality_id, id, %s, '{\"n\": 1, \"m\": 1}', 'test: single readings', %s, %s "
                "FROM patients WHERE id = %s",
                (rule, set_by, datetime.now(UTC).date() + timedelta(days=30), kit.patient_id),
            )
    return address


def new_home(client: TestClient, url: str, tenants: Tenants) -> Home:
    """A fresh heart-failure patient in team Nord with a kit and a blood-pressure monitor."""
    kit = enrol_kit(client, url, tenants.a.municipality_id, new_patient(url, tenants))
    return Home(kit, asyncio.run(_monitor(url, kit, tenants.a.staff[Role.NURSE])))
