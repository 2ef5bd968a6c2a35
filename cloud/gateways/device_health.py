"""Each device's health as its gateway reports it in the heartbeat: the only writer of `device_health`.

A heartbeat lists, per device, its last reading's time, battery (percent, and when it was read), signal (BLE
RSSI in dBm or Zigbee link quality 0-255, and when it was heard) and the gateway's counts of its decode and
connection errors. Each device's figures are checked on their own (`check_devices`): one bad value costs
that value, named in the answer, not the heartbeat (the gateway's liveness) nor the other devices. Times are
the gateway's, corrected by its measured clock skew and never later than the cloud's clock, like
cloud/gateways/last_seen.py. A figure a heartbeat leaves out keeps its stored value (a Zigbee sensor reports
its battery about once a day). Addresses that are no device of the gateway's municipality are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

MAX_DEVICES = 500


class DeviceReport(BaseModel):
    """What the gateway knows of one device."""

    model_config = ConfigDict(allow_inf_nan=False)

    address: str = Field(min_length=1, max_length=200)
    last_reading_at: AwareDatetime | None = Field(default=None, description="When its last reading arrived")
    last_seen: AwareDatetime | None = Field(default=None, description="Older agents' name for last_reading_at")
    battery_pct: float | None = Field(default=None, ge=0, le=100)
    battery_at: AwareDatetime | None = None
    rssi_dbm: int | None = Field(default=None, ge=-127, le=20, description="BLE signal strength")
    link_quality: int | None = Field(default=None, ge=0, le=255, description="Zigbee link quality")
    signal_at: AwareDatetime | None = None
    decode_errors: int | None = Field(default=None, ge=0, le=10**12, description="Input no codec could read")
    connection_errors: int | None = Field(default=None, ge=0, le=10**12, description="Failed GATT sessions")

    def reading_at(self) -> datetime | None:
        """When its last reading arrived (either name)."""
        return self.last_reading_at or self.last_seen


class Refusal(BaseModel):
    """One refused value: where in the body, why (never the value itself)."""

    loc: list[str | int]
    msg: str
    type: str


def check_devices(items: object) -> tuple[object, list[Refusal]]:
    """The heartbeat's device list with each bad figure left out (a device without a usable address, or not
    an object, is left out whole), and the refusals naming them. Anything but a list of at most
    `MAX_DEVICES` is returned as it is, for the heartbeat's own validation to refuse."""
    if not isinstance(items, list) or len(items) > MAX_DEVICES:
        return items, []
    kept: list[DeviceReport] = []
    refused: list[Refusal] = []
    for index, item in enumerate(items):
        where: list[str | int] = ["body", "devices", index]
        if not isinstance(item, dict):
            refused.append(Refusal(loc=where, msg="Input should be an object", type="dict_type"))
            continue
        try:
            kept.append(DeviceReport.model_validate(item))
            continue
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
        refused += [Refusal(loc=[*where, *e["loc"]], msg=e["msg"], type=e["type"]) for e in errors]
        bad = {e["loc"][0] for e in errors if e["loc"]}
        if "address" not in bad and all(e["loc"] for e in errors):
            kept.append(DeviceReport.model_validate({k: v for k, v in item.items() if k not in bad}))
    return kept, refused


# The gateway's times less its clock skew, never later than now (a value without its time: now; `least`
# skips a null, hence the CASEs); rows in device order (two gateways hearing
# the same devices lock them in the same order).
_RECORD = """
INSERT INTO device_health AS h (device_id, gateway_id, reported_at, last_reading_at, battery_pct, battery_at,
                                rssi_dbm, link_quality, signal_at, decode_errors, connection_errors)
SELECT d.id, g.id, now(), CASE WHEN r.reading_at IS NOT NULL THEN least(r.reading_at - skew.s, now()) END,
       r.battery_pct,
       CASE WHEN r.battery_pct IS NOT NULL THEN least(coalesce(r.battery_at - skew.s, now()), now()) END,
       r.rssi_dbm, r.link_quality,
       CASE WHEN coalesce(r.rssi_dbm, r.link_quality) IS NOT NULL
            THEN least(coalesce(r.signal_at - skew.s, now()), now()) END,
       r.decode_errors, r.connection_errors
FROM unnest(%s::text[], %s::timestamptz[], %s::float4[], %s::timestamptz[], %s::int2[], %s::int2[],
            %s::timestamptz[], %s::int8[], %s::int8[])
     AS r(address, reading_at, battery_pct, battery_at, rssi_dbm, link_quality, signal_at, decode_errors,
          connection_errors)
JOIN gateways g ON g.id = %s
JOIN devices d ON d.municipality_id = g.municipality_id AND d.address = r.address
CROSS JOIN (SELECT make_interval(secs => %s) AS s) skew
ORDER BY d.id
ON CONFLICT (device_id) DO UPDATE SET gateway_id = excluded.gateway_id, reported_at = excluded.reported_at,
    last_reading_at = coalesce(excluded.last_reading_at, h.last_reading_at),
    battery_pct = coalesce(excluded.battery_pct, h.battery_pct),
    battery_at = CASE WHEN excluded.battery_pct IS NULL THEN h.battery_at ELSE excluded.battery_at END,
    rssi_dbm = CASE WHEN excluded.signal_at IS NULL THEN h.rssi_dbm ELSE excluded.rssi_dbm END,
    link_quality = CASE WHEN excluded.signal_at IS NULL THEN h.link_quality ELSE excluded.link_quality END,
    signal_at = coalesce(excluded.signal_at, h.signal_at),
    decode_errors = coalesce(excluded.decode_errors, h.decode_errors),
    connection_errors = coalesce(excluded.connection_errors, h.connection_errors)
"""


async def record(
    conn: AsyncConnection[Any], gateway_id: UUID, devices: Sequence[DeviceReport], clock_skew_s: float
) -> None:
    """Store the health the heartbeat reported for each of the gateway's municipality's devices it lists
    (the last entry of an address listed twice). Runs inside the caller's transaction."""
    latest = {device.address: device for device in devices}
    chosen = [latest[address] for address in sorted(latest)]
    if not chosen:
        return
    columns = (
        [d.address for d in chosen], [d.reading_at() for d in chosen], [d.battery_pct for d in chosen],
        [d.battery_at for d in chosen], [d.rssi_dbm for d in chosen], [d.link_quality for d in chosen],
        [d.signal_at for d in chosen], [d.decode_errors for d in chosen], [d.connection_errors for d in chosen],
    )  # fmt: skip
    await conn.execute(_RECORD, (*columns, gateway_id, clock_skew_s))
