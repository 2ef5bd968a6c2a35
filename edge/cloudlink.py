"""Heartbeat, configuration pull and device proposals: the gateway's other conversations with the cloud.

The heartbeat tells the cloud the gateway is alive and how full its outbox is, so "gateway down" can be told
from "sensor silent". The configuration (devices to listen to, heartbeat interval) is pulled with an ETag and
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


class CloudLink:
    """Status reports, configuration and proposals for one gateway."""

    def __init__(self, config: GatewayConfig, outbox: Outbox, client: httpx.AsyncClient) -> None:
        self.config = config
        self.outbox = outbox
        self.client = client
        self.started = time.monotonic()
        self._prefix = f"/api/v1/gateways/{config.gateway_id}"
        self.discovered: dict[str, str] = {}  # address -> profile id, filled by the sources

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
        devices = [
            {"address": address[:200], "last_seen": datetime.fromtimestamp(at, UTC).isoformat()}
            for address, _, _, at in self.outbox.devices()[:500]
        ]
        report = {
            "software_version": common.VERSION,
            "uptime_s": round(time.monotonic() - self.started, 1),
            "gateway_clock": datetime.now(UTC).isoformat(),
            "outbox_depth": depth.count,
            "outbox_evictions": counters.get("evicted", 0),
            "malformed_from_sources": counters.get("malformed", 0),
            "watchdog_restarts": counters.get("watchdog_restarts", 0),
            "quarantined_locally": quarantined,
            # Clamped: a reading queued while the clock was wrong must not make the heartbeat invalid.
            "quarantined_locally_oldest_s": None if oldest is None else round(max(0.0, time.time() - oldest), 1),
            "devices": devices,
        }
        response = await self.client.post(f"{self._prefix}/status", json=report)
        response.raise_for_status()
        self.outbox.set_state("last_heartbeat_at", str(time.time()))
        reply: dict[str, object] = response.json()
        return reply

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
