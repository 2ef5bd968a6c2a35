"""When each device was last heard: the only writer of `device_last_seen`.

Heard means a message of the device's own reached its gateway: any reading the gateway uploads, stored or
quarantined (a device with a wrong clock or a garbled payload is still talking; what it says is the
quarantine's business, not liveness'), and the device list of each heartbeat, which also names devices whose
readings still wait in the outbox. The moment is the gateway's receipt time, corrected by the gateway's
measured clock skew and never later than the cloud's own clock, so an upload after an outage says when the
device was really heard and not when the upload came. The clinical time of a reading (`observations.t`) is
no measure of this: a blood-pressure monitor hands over yesterday's record today.

The liveness rules (cloud/evaluation/inputs.py) and the fleet view (cloud/fleet/status.py) both read this
table, so they cannot disagree about whether a device reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from cloud.db.batch import Query

# Rows in device order, so two transactions hearing the same devices lock them in the same order; a row is only
# rewritten when the moment is newer (a replayed backlog leaves it alone). Each heard address comes with its
# gateway (whose municipality names the device) and that gateway's clock skew. The device is found per address
# in a LATERAL subquery (LIMIT 1: gateway and address name one device), so that the plan ingest makes once for
# every length of the arrays (cloud.db.batch.GENERIC_PLANS) probes the keys instead of scanning the devices.
_RECORD = (
    "INSERT INTO device_last_seen (device_id, seen_at) "
    "SELECT d.id, max(least(h.at - make_interval(secs => h.skew), now())) "
    "FROM unnest(%b::uuid[], %b::text[], %b::timestamptz[], %b::float8[]) AS h(gateway_id, address, at, skew) "
    "CROSS JOIN LATERAL (SELECT d.id FROM gateways g JOIN devices d ON d.municipality_id = g.municipality_id "
    "AND d.address = h.address WHERE g.id = h.gateway_id LIMIT 1) AS d GROUP BY d.id ORDER BY d.id "
    "ON CONFLICT (device_id) DO UPDATE SET seen_at = excluded.seen_at "
    "WHERE device_last_seen.seen_at < excluded.seen_at"
)


# Ingest writes a device's moment at most once a minute per process. At one upload per gateway every 10 s a
# national fleet would otherwise rewrite about 12,500 rows a second to move them on by seconds, while what reads
# them counts silence in hours (the liveness rules, alerts/protocols/_liveness.yaml) and the fleet view shows
# minutes. A moment a minute or more past the last one the process wrote is always written, so a device heard
# again after a silence is recorded at once, and the stored moment is never a minute behind.
RECORD_EVERY = timedelta(minutes=1)


class Recent:
    """The moment one process last wrote for each (gateway, address): which heard moments are worth writing.
    Moments are judged as `_RECORD` stores them, in the cloud's clock and never later than now, so a gateway
    whose clock ran far ahead cannot hold a device's later moments back."""

    def __init__(self, every: timedelta = RECORD_EVERY, limit: int = 200_000) -> None:
        self.every = every
        self.limit = limit
        self._written: dict[tuple[UUID, str], datetime] = {}

    def due(
        self,
        gateway_id: UUID,
        heard: Mapping[str, datetime],
        clock_skew_s: float | None,
        *,
        now: datetime | None = None,
    ) -> dict[str, datetime]:
        """The part of `heard` (gateway clock, `clock_skew_s` ahead of ours) whose moments are `every` or more
        past the ones last written."""
        now = now or datetime.now(UTC)
        written = self._written
        return {
            address: at
            for address, at in heard.items()
            if (last := written.get((gateway_id, address))) is None
            or _moment(at, clock_skew_s, now) - last >= self.every
        }

    def written(
        self,
        gateway_id: UUID,
        heard: Mapping[str, datetime],
        clock_skew_s: float | None,
        *,
        now: datetime | None = None,
    ) -> None:
        """Note what a committed transaction wrote (a rolled-back one wrote nothing, and is not noted)."""
        now = now or datetime.now(UTC)
        if len(self._written) >= self.limit:
            self._written.clear()  # forget rather than grow: each device is written once more, then kept again
        for address, at in heard.items():
            moment = _moment(at, clock_skew_s, now)
            last = self._written.get((gateway_id, address))
            if last is None or moment > last:
                self._written[(gateway_id, address)] = moment


def _moment(at: datetime, clock_skew_s: float | None, now: datetime) -> datetime:
    """A moment in the gateway's clock as `_RECORD` stores it."""
    return min(at - timedelta(seconds=clock_skew_s or 0.0), now)


def newest(heard: Iterable[tuple[str, datetime | None]]) -> dict[str, datetime]:
    """The newest moment per address of (address, received at) pairs; pairs without a time are left out."""
    out: dict[str, datetime] = {}
    for address, at in heard:
        if at is not None and (address not in out or at > out[address]):
            out[address] = at
    return out


async def record(
    conn: AsyncConnection[Any], gateway_id: UUID, heard: Mapping[str, datetime], clock_skew_s: float | None
) -> None:
    """Record that the gateway heard each address at its moment (gateway clock, `clock_skew_s` ahead of ours).
    Addresses that are no device of the gateway's municipality are ignored. Runs inside the caller's
    transaction, and in a pipeline."""
    statement = record_query([(gateway_id, heard, clock_skew_s)])
    if statement is not None:
        await conn.execute(statement.sql, statement.params)


def record_query(heard_by: Iterable[tuple[UUID, Mapping[str, datetime], float | None]]) -> Query | None:
    """`record` for several gateways in one statement, for a batch of statements (cloud/db/batch.py): (gateway,
    what it heard when, its clock skew) each; None when nothing was heard."""
    columns: tuple[list[Any], ...] = ([], [], [], [])
    for gateway_id, heard, clock_skew_s in heard_by:
        for address in sorted(heard):
            for column, value in zip(columns, (gateway_id, address, heard[address], clock_skew_s or 0.0), strict=True):
                column.append(value)
    return Query(_RECORD, columns) if columns[0] else None
