"""Readings with a history: devices registered and assigned long ago, and batches sent through the real
ingest endpoint (for query and fleet tests, which need data from months back)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient

from cloud.db.pool import connect
from cloud.gateways import devices
from device_profiles.wire import WireReading
from tests.support.kits import Kit, batch

_seq = iter(range(1_000_000, 10**12))


def old_device(runtime_url: str, kit: Kit, profile_id: str, since: datetime) -> str:
    """A new device address registered to the kit's gateway and assigned to its patient since `since`."""
    address = f"hist-{uuid.uuid4().hex[:10]}"

    async def go() -> None:
        async with await connect(runtime_url) as conn:
            device = await devices.register(
                conn, gateway_id=kit.gateway_id, address=address, profile_id=profile_id, valid_from=since
            )
            await devices.assign(conn, device_id=device, patient_id=kit.patient_id, valid_from=since)
            kit.device_ids[address] = device

    asyncio.run(go())
    return address


def point(device: str, metric: str, value: Any, unit: str, at: datetime) -> dict[str, Any]:
    """One reading measured at `at` (device clock) and received now, with a fresh sequence number."""
    sent = WireReading(seq=next(_seq), device=device, metric=metric, value=value, unit=unit, measured_at=at,
                       received_at=datetime.now().astimezone())  # fmt: skip
    return sent.encode(omit_empty_context=True)


def send(client: TestClient, kit: Kit, readings: list[dict[str, Any]]) -> dict[str, Any]:
    """POST the readings as one batch; returns the ingest reply."""
    response = client.post("/api/v1/ingest", json=batch(kit, readings), headers=kit.auth)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply
