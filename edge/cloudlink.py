"""Heartbeat, configuration pull and device proposals: the gateway's other conversations with the cloud.

The heartbeat tells the cloud the gateway is alive and how full its outbox is, so "gateway down" can be told
from "sensor silent", and how each device is (edge/health.py): its last reading, battery, signal and error
counts, so a low battery or a silent scale shows in the fleet view before it matters. The cloud checks each
device's figures on their own: a bad one is named in a 422 whose body says the rest was recorded
(`recorded: true`), which counts as delivered here (`heartbeat_fields_refused`), not as a failure.

The configuration (devices to listen to, heartbeat interval) is pulled with an ETag and
kept in the outbox's state so it survives restarts and the agent works offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime

import httpx

import common
from edge.config import GatewayConfig
from edge.health import Signals
from edge.outbox import Outbox

log = logging.getLogger("tryggheim.edge.cloudlink")
DEFAULT_HEARTBEAT_S = 5 * 60.0  # until the cloud's configuration says otherwise (cloud/gateways/heartbeat.py)


def assigned_devices(outbox: Outbox) -> dict[str, str]:
    """address -> profile id of the devices the cloud last said this gateway serves (kept across restarts)."""
    text = outbox.get_state("cloud_config")
    devices = json.loads(text).get("devices", []) if text else []
    return {d["address"]: d["profile_id"] for d in devices}


def served_devices(outbox: Outbox) -> dict[str, str]:
    """The devices the sources read: those assigned by the cloud, plus those paired on site with
    `tryggheim edge pair` and proposed but not yet confirmed (the cloud's assignment wins)."""
    return {**outbox.states(PAIRED_PREFIX), **assigned_devices(outbox)}


PAIRED_PREFIX = "paired:"


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat()


class CloudLink:
    """Status reports, configuration and proposals for one gateway."""

    def __init__(self, config: GatewayConfig, outbox: Outbox, client: httpx.AsyncClient) -> None:
        self.config = config
        self.outbox = outbox
        self.client = client
        self.started = time.monotonic()
        self._prefix = f"/api/v1/gateways/{config.gateway_id}"
        self.discovered: dict[str, str] = {}  # address -> profile id, filled by the sources
        self.signals = Signals()  # the newest signal of each device, filled by the sources

    def assigned(self) -> dict[str, str]:
        """address -> profile id of the devices the cloud says this gateway serves (last known)."""
        return assigned_devices(self.outbox)

    def heartbeat_interval(self) -> float:
        """The configured override, else the cloud's interval, else 5 minutes."""
        if self.config.heartbeat_s:
            return self.config.heartbeat_s
        text = self.outbox.get_state("cloud_config")
        return float(json.loads(text).get("heartbeat_interval_s", DEFAULT_HEARTBEAT_S)) if text else DEFAULT_HEARTBEAT_S

    async def pull_config(self) -> bool:
        """Fetch the configuration; True when it changed."""
        etag = self.outbox.get_state("cloud_config_etag")
        response = await self.client.get(f"{self._prefix}/config", headers={"If-None-Match": etag} if etag else {})
        if response.status_code == 304:
            return False
        response.raise_for_status()
        self.outbox.set_state("cloud_config", response.text)
        self.outbox.set_state("cloud_config_etag", response.headers.get("etag", ""))
        return True

    async def report_status(self) -> dict[str, object]:
        """Send one heartbeat; returns the cloud's reply (clock skew)."""
        depth = self.outbox.depth()
        counters = self.outbox.counters()
        quarantined, oldest = self.outbox.quarantine_summary()
        devices = self.device_reports()
        report = {
            "software_version": common.VERSION,
            "uptime_s": round(time.monotonic() - self.started, 1),
            "gateway_clock": datetime.now(UTC).isoformat(),
            "outbox_depth": depth.count,
            "outbox_evictions": counters.get("evicted", 0),
            "malformed_from_sources": counters.get("malformed", 0),
            "watchdog_restarts": counters.get("watchdog_restarts", 0),
            **self._local_alarm_record(counters),
            "quarantined_locally": quarantined,
            # Clamped: a reading queued while the clock was wrong must not make the heartbeat invalid.
            "quarantined_locally_oldest_s": None if oldest is None else round(max(0.0, time.time() - oldest), 1),
            "devices": devices,
        }
        response = await self.client.post(f"{self._prefix}/status", json=report)
        reply: dict[str, object] = response.json() if response.status_code == 422 else {}
        if reply.get("recorded") is True:  # recorded, but for the device figures the cloud names
            self.outbox.count("heartbeat_fields_refused")
            log.warning("the cloud refused heartbeat fields: %s", json.dumps(reply.get("detail"))[:500])
        else:
            response.raise_for_status()
            reply = response.json()
        self.outbox.set_state("last_heartbeat_at", str(time.time()))
        return reply

    def _local_alarm_record(self, counters: dict[str, int]) -> dict[str, int | None]:
        """The local alarm path's attempts by outcome (edge/local_alarm.py), so a siren that stopped answering
        shows in the fleet view before the day the uplink is down; None for a home without the path."""
        raised, failed = counters.get("local_alarms_raised", 0), counters.get("local_alarm_failures", 0)
        if not (self.config.local_alarm.enabled or raised or failed):
            return {"local_alarms_raised": None, "local_alarm_failures": None}
        return {"local_alarms_raised": raised, "local_alarm_failures": failed}

    def device_reports(self, limit: int = 500) -> list[dict[str, object]]:
        """Each device's health for the heartbeat, by address: from the outbox (last reading, battery, error
        counts) and from the sources (signal); times in UTC."""
        stored = {h.address: h for h in self.outbox.device_health(limit)}
        reports: list[dict[str, object]] = []
        for address in sorted(stored.keys() | self.signals.keys())[:limit]:
            health, signal = stored.get(address), self.signals.get(address)
            reports.append({
                "address": address[:200],
                "last_reading_at": _iso(health.last_reading_at if health else None),
                "battery_pct": health.battery_pct if health else None,
                "battery_at": _iso(health.battery_at if health else None),
                "rssi_dbm": signal.rssi_dbm if signal else None,
                "link_quality": signal.link_quality if signal else None,
                "signal_at": _iso(signal.at if signal else None),
                "decode_errors": health.decode_errors if health else 0,
                "connection_errors": health.connection_errors if health else 0,
            })  # fmt: skip
        return reports

    async def propose(self, address: str, profile_id: str, details: dict[str, object] | None = None) -> bool:
        """Propose a discovered device once (remembered in the outbox state); True when sent now."""
        key = f"proposed:{address}"
        if self.outbox.get_state(key) == profile_id or address in self.assigned():
            return False
        response = await self.client.post(
            f"{self._prefix}/devices", json={"address": address, "profile_id": profile_id, "details": details or {}}
        )
        response.raise_for_status()
        self.outbox.set_state(key, profile_id)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Heartbeat and config pull on the interval; proposals as sources discover devices."""
        next_beat = 0.0
        while not stop.is_set():
            try:
                for address, profile in list(self.discovered.items()):
                    await self.propose(address, profile)
                if time.monotonic() >= next_beat:
                    await self.pull_config()
                    await self.report_status()
                    next_beat = time.monotonic() + self.heartbeat_interval()
            except (httpx.HTTPError, ValueError) as exc:
                self.outbox.count("heartbeat_errors")
                log.warning("heartbeat/config failed: %s", exc)
                next_beat = time.monotonic() + min(60.0, self.heartbeat_interval())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.1, min(5.0, next_beat - time.monotonic())))
