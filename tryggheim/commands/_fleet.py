"""`tryggheim admin fleet`: the fleet view of one municipality, one JSON object per gateway and line (the
same figures and filters as `GET /api/v1/fleet/gateways`)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import psycopg
import typer

from cloud.access import directory
from cloud.config import CloudSettings
from cloud.db.pool import connect
from cloud.fleet.status import FleetFilter, GatewayHealth, list_gateways
from tryggheim.commands._startup import ADMIN_DATABASE, fail, load_settings, required

PAGE = 1000


async def _all(url: str, municipality: str, template: FleetFilter) -> list[GatewayHealth]:
    async with await connect(url) as conn:
        mid = await directory.municipality_id(conn, municipality)
        found: list[GatewayHealth] = []
        while True:
            after = found[-1].gateway_id if found else None
            page = await list_gateways(conn, mid, FleetFilter(**{**vars(template), "after": after, "limit": PAGE}))
            found += page
            if len(page) < PAGE:
                return found


def fleet(
    municipality: Annotated[str, typer.Option("--municipality", "-m", help="Kommunenummer, four digits.")],
    offline: Annotated[bool, typer.Option("--offline", help="Only gateways with no heartbeat in N intervals.")] = False,
    low_battery: Annotated[
        bool, typer.Option("--low-battery", help="Only gateways with a device low on battery.")
    ] = False,
    garbage: Annotated[bool, typer.Option("--garbage", help="Only gateways sending bad readings.")] = False,
    missed_heartbeats: Annotated[int, typer.Option(min=1, max=100, help="N for --offline.")] = 3,
    battery_below: Annotated[float, typer.Option(min=0, max=100, help="Percent for --low-battery.")] = 20.0,
    garbage_per_hour: Annotated[float, typer.Option(min=0, help="Bad readings per hour for --garbage.")] = 10.0,
    window_hours: Annotated[int, typer.Option(min=1, max=24 * 31, help="Quarantine counting window.")] = 24,
    include_revoked: Annotated[bool, typer.Option("--include-revoked", help="Also list revoked gateways.")] = False,
) -> None:
    """Every gateway and device of a municipality with last-seen, battery, outbox, clock skew, quarantine
    counts and watchdog restarts; the filters combine."""
    url = required(load_settings(CloudSettings).database_url, "TRYGGHEIM_DATABASE_URL", ADMIN_DATABASE)
    template = FleetFilter(
        offline=offline or None, low_battery=low_battery or None, garbage=garbage or None,
        missed_heartbeats=missed_heartbeats, battery_below=battery_below, garbage_per_hour=garbage_per_hour,
        window_hours=window_hours, include_revoked=include_revoked,
    )  # fmt: skip
    try:
        found = asyncio.run(_all(url, municipality, template))
    except directory.DirectoryError as exc:
        fail(str(exc))
    except psycopg.OperationalError as exc:
        fail(f"TRYGGHEIM_DATABASE_URL: {str(exc).strip().splitlines()[0]}")
    for gateway in found:
        print(gateway.model_dump_json())
