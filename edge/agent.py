"""The agent: one asyncio process wiring sources, outbox, uplink and cloud link together.

SIGTERM and SIGINT set a stop event; every loop finishes its current step and the outbox is closed. Nothing
depends on a clean stop, though: every reading is committed to the outbox before anything else sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time

from edge.cloudlink import CloudLink
from edge.config import GatewayConfig
from edge.http import make_client
from edge.outbox import Outbox
from edge.sink import Sink
from edge.sources.simulator import run_simulator
from edge.uplink import Uplink

log = logging.getLogger("tryggheim.edge.agent")
HOUSEKEEPING_S = 10.0


def open_outbox(config: GatewayConfig) -> Outbox:
    """The outbox with the configured bounds."""
    return Outbox(
        config.outbox_path,
        max_bytes=int(config.outbox_max_mb * 1024 * 1024),
        max_age_s=config.outbox_max_age_days * 86400,
    )


async def _housekeeping(config: GatewayConfig, outbox: Outbox, stop: asyncio.Event) -> None:
    """Outbox bounds and the overdue-alarm check, on a short period."""
    while not stop.is_set():
        outbox.enforce_bounds()
        if outbox.note_overdue_alarms(config.alarm_overdue_s):
            log.error("an alarm-class reading has not been acknowledged for %.0f s", config.alarm_overdue_s)
        period = min(HOUSEKEEPING_S, config.alarm_overdue_s / 4)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=period)


async def run_agent(config: GatewayConfig) -> None:
    """Run until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    outbox = open_outbox(config)
    client = make_client(
        config.cloud_url,
        insecure_dev=config.insecure_dev,
        ca_file=config.ca_file,
        credential=config.credential(),
        timeout_s=config.request_timeout_s,
    )
    uplink = Uplink(config, outbox, client)
    cloud = CloudLink(config, outbox, client)
    sink = Sink(outbox, uplink, cloud, config.malformed_forward_interval_s)
    tasks = [
        asyncio.create_task(uplink.run(stop), name="uplink"),
        asyncio.create_task(cloud.run(stop), name="cloudlink"),
        asyncio.create_task(_housekeeping(config, outbox, stop), name="housekeeping"),
    ]
    if config.simulator.enabled:
        tasks.append(asyncio.create_task(run_simulator(config.simulator, sink, stop), name="simulator"))
    outbox.set_state("agent_started_at", str(time.time()))
    print(f"edge agent running: gateway {config.gateway_id}, outbox epoch {outbox.epoch}", flush=True)  # noqa: T201
    try:
        await stop.wait()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()
        outbox.close()
    print("edge agent stopped", file=sys.stderr, flush=True)  # noqa: T201
