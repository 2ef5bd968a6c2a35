"""Helpers for the radio tests: an enrolled gateway with registered devices, the agent run in-process against
the real cloud, and queries of what the cloud stored."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from edge.agent import run_agent
from edge.config import GatewayConfig, load_config
from edge.enrol import enrol
from edge.sources.radio import Radio
from tests.edge.cloud import new_code, register_devices
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants


def address() -> str:
    """A fresh BLE address (upper-case hex, display order)."""
    return ":".join(f"{b:02X}" for b in uuid.uuid4().bytes[:6])


def enrolled(tmp_path: Path, cloud: tuple[str, Path], db: TestDatabase, tenants: Tenants,
             devices: dict[str, str], **overrides: Any) -> GatewayConfig:  # fmt: skip
    """A gateway enrolled through `edge.enrol`, with `devices` (address -> profile) registered and assigned."""
    url, ca = cloud
    code = new_code(db.runtime_url, tenants.a.municipality_id)
    gateway_id = enrol(url, code, tmp_path / "gateway.toml", ca_file=ca)
    register_devices(db.runtime_url, UUID(gateway_id), tenants.a.patients["nord"], devices)
    config = load_config(tmp_path / "gateway.toml")
    fast = {"batch_age_s": 0.2, "backoff_base_s": 0.05, "heartbeat_s": 0.5}
    return replace(config, **{**fast, **overrides})


async def run_until(config: GatewayConfig, done: Callable[[], Awaitable[bool]], *, radio: Radio | None = None,
                    limit_s: float = 30.0, during: Callable[[], Awaitable[None]] | None = None) -> float:  # fmt: skip
    """Run the real agent until `done()` holds (polled), then stop it; returns the seconds it took."""
    stop = asyncio.Event()
    agent = asyncio.create_task(run_agent(config, stop=stop, radio=radio))
    started = time.monotonic()
    try:
        if during is not None:
            await during()
        while not await done():
            assert not agent.done(), f"agent ended early: {agent.exception() if agent.done() else ''}"
            assert time.monotonic() - started < limit_s, "condition not reached in time"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(agent, 20)
    return time.monotonic() - started


def observations(db: TestDatabase, gateway_id: str) -> list[dict[str, Any]]:
    """What the cloud stored from this gateway: address, metric, value, unit, measured_at, context."""
    with psycopg.connect(db.runtime_url) as conn:
        rows = conn.execute(
            "SELECT d.address, o.metric, o.value, o.unit, o.measured_at, o.context, o.received_at "
            "FROM observations o JOIN devices d ON d.id = o.device_id WHERE o.gateway_id = %s ORDER BY o.seq",
            (gateway_id,),
        ).fetchall()
    keys = ("address", "metric", "value", "unit", "measured_at", "context", "received_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def quarantined(db: TestDatabase, gateway_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(reason, raw reading) of the quarantined readings from this gateway."""
    with psycopg.connect(db.runtime_url) as conn:
        rows = conn.execute(
            "SELECT reason, payload FROM quarantine WHERE gateway_id = %s ORDER BY seq", (gateway_id,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


async def in_thread(function: Callable[[], Any]) -> Any:
    """Run a blocking query without stalling the agent's event loop."""
    return await asyncio.to_thread(function)


async def until(condition: Callable[[], bool], limit_s: float = 20.0) -> None:
    """Poll `condition` (cheap, non-blocking) until it holds."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")
