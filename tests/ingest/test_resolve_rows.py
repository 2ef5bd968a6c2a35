"""The device look-up's rows go to the batches they belong to (cloud/ingest/resolve.py): in a group of many
gateways of one municipality, each batch takes the rows of its own devices, not the whole group's (which made a
group's cost grow with the square of its size: under a backlog of 64-batch groups, the service's CPU per request
rose by half)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

from cloud.db.pool import connect
from cloud.ingest import resolve
from cloud.ingest.resolve import Resolver


def _rows(municipality: UUID, gateway: UUID, address: str, patient: UUID) -> tuple[UUID, list[dict[str, Any]]]:
    """A device's registration with the gateway and its assignment to the patient, as the look-up returns them."""
    device = uuid4()
    common = {"municipality_id": municipality, "device_id": device, "lower": None, "upper": None}
    return device, [
        {**common, "registration": True, "address": address, "other": gateway, "profile_id": "and-uc-352ble",
         "home_id": None},
        {**common, "registration": False, "address": None, "other": patient, "profile_id": None, "home_id": None},
    ]  # fmt: skip


def test_each_batch_of_a_group_takes_only_the_rows_of_its_own_devices(pg_admin_url: str) -> None:
    municipality, other_municipality = uuid4(), uuid4()
    gateways = [uuid4() for _ in range(3)]
    devices, rows = [], []
    for n, gateway in enumerate(gateways):
        device, found = _rows(municipality, gateway, f"00:00:0{n}", uuid4())
        devices.append(device)
        rows += found
    # The same address in another municipality is another device, and none of these batches' business.
    rows += _rows(other_municipality, uuid4(), "00:00:00", uuid4())[1]
    resolvers = [Resolver(gateway, municipality) for gateway in gateways]

    async def receive() -> None:
        async with await connect(pg_admin_url) as conn:
            await resolve.receive(conn, rows, resolvers, [{f"00:00:0{n}"} for n in range(3)])

    asyncio.run(receive())
    for n, resolver in enumerate(resolvers):
        assert set(resolver.registrations) == {f"00:00:0{n}"}
        assert [r.device_id for r in resolver.registrations[f"00:00:0{n}"]] == [devices[n]]
        assert set(resolver.assignments) == {devices[n]}
