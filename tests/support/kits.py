"""A home with an enrolled gateway and devices assigned to a patient, built through the real flows."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from cloud.db.pool import connect
from cloud.gateways import credentials, devices
from device_profiles import wire
from device_profiles.wire import WireReading


def _address() -> str:
    return ":".join(f"{b:02X}" for b in uuid.uuid4().bytes[:6])


@dataclass
class Kit:
    """A gateway enrolled yesterday with three devices assigned to one patient since then."""

    gateway_id: UUID
    credential: str
    home_id: UUID
    patient_id: UUID
    device_ids: dict[str, UUID] = field(default_factory=dict)
    epoch: str = field(default_factory=lambda: str(uuid.uuid4()))
    scale: str = field(default_factory=_address)
    oximeter: str = field(default_factory=_address)
    button: str = field(default_factory=_address)

    @property
    def auth(self) -> dict[str, str]:
        """The gateway's bearer header."""
        return {"Authorization": f"Bearer {self.credential}"}


async def home_with_code(url: str, municipality_id: UUID, address: str = "Testveien 1") -> tuple[UUID, str]:
    """A new home and a single-use enrolment code for it."""
    async with await connect(url) as conn:
        home = await (
            await conn.execute(
                "INSERT INTO homes (municipality_id, address) VALUES (%s, %s) RETURNING id", (municipality_id, address)
            )
        ).fetchone()
        assert home is not None
        code, _ = await credentials.create_code(conn, home[0])
        return home[0], code


async def _devices(url: str, kit: Kit) -> None:
    since = datetime.now(UTC) - timedelta(days=1)
    async with await connect(url) as conn:
        # Enrolled yesterday too: liveness counts a gateway never heard from as silent since its enrolment.
        await conn.execute("UPDATE gateways SET enrolled_at = %s WHERE id = %s", (since, kit.gateway_id))
        for address, profile in ((kit.scale, "and-uc-352ble"), (kit.oximeter, "nonin-3230"),
                                 (kit.button, "shelly-blu-button1")):  # fmt: skip
            device = await devices.register(
                conn, gateway_id=kit.gateway_id, address=address, profile_id=profile, valid_from=since
            )
            await devices.assign(conn, device_id=device, patient_id=kit.patient_id, valid_from=since)
            kit.device_ids[address] = device


def enrol_kit(client: TestClient, runtime_url: str, municipality_id: UUID, patient_id: UUID) -> Kit:
    """Create a home and a code, enrol through the API, register and assign the devices."""
    home, code = asyncio.run(home_with_code(runtime_url, municipality_id))
    response = client.post("/api/v1/gateways/enrol", json={"code": code.lower().replace("-", " ")})
    assert response.status_code == 201, response.text
    body = response.json()
    kit = Kit(UUID(body["gateway_id"]), body["credential"], home, patient_id)
    asyncio.run(_devices(runtime_url, kit))
    return kit


def reading(seq: int, device: str, metric: str = "body.weight", value: Any = 80.5, unit: str = "kg",
            measured_at: datetime | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    """One reading as a gateway sends it (without `context` unless `extra` names one); `extra` adds or
    replaces fields, which is how tests send what the contract does not allow."""
    now = datetime.now(UTC)
    sent = WireReading(seq=seq, device=device, metric=metric, value=value, unit=unit,
                       measured_at=measured_at or now - timedelta(minutes=1), received_at=now)  # fmt: skip
    return {**sent.encode(omit_empty_context=True), **extra}


def batch(kit: Kit, readings: list[dict[str, Any]], epoch: str | None = None) -> dict[str, Any]:
    """An ingest body."""
    return wire.batch(epoch or kit.epoch, readings)
