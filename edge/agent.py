"""The agent: one asyncio process wiring sources, outbox, uplink and cloud link together.

SIGTERM and SIGINT set a stop event; every loop finishes its current step and the outbox is closed. Nothing
depends on a clean stop, though: every reading is committed to the outbox before anything else sees it. So a
step that outlasts `STOP_GRACE_S` (an upload the cloud never answers) is cancelled rather than waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from typing import TYPE_CHECKING

from edge import sdnotify
from edge.cloudlink import CloudLink, served_devices
from edge.config import GatewayConfig
from edge.http import make_client
from edge.outbox import Outbox
from edge.sink import Sink
from edge.uplink import Uplink

if TYPE_CHECKING:
    from edge.sources.radio import Radio

log = logging.getLogger("tryggheim.edge.agent")
HOUSEKEEPING_S = 10.0
# How long the loops get to finish their current step after SIGTERM. Well inside systemd's TimeoutStopSec (30 s)
# and the demo's wait for its homes (4 s), so a stop is prompt and never ends in SIGKILL.
STOP_GRACE_S = 2.0


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


def _healthy(tasks: list[asyncio.Task[None]], core: int) -> bool:
    """False once a task crashed, or one of the first `core` tasks (uplink, cloud link, housekeeping) ended:
    the agent then stops petting systemd's watchdog and is restarted. A source that finished its work (a
    simulator with a limit) is not a crash."""
    crashed = any(t.done() and (t.cancelled() or t.exception() is not None) for t in tasks)
    return not crashed and not any(t.done() for t in tasks[:core])


async def _finish(tasks: list[asyncio.Task[None]], grace_s: float) -> None:
    """Wait up to `grace_s` for the tasks to end by themselves, then cancel the rest, naming each: a loop that
    ignores `stop` is a fault to see in the log, and a request in flight is sent again after the restart."""
    _ended, running = await asyncio.wait(tasks, timeout=grace_s)
    for task in running:
        log.warning("%s did not stop within %.0f s of the stop signal; cancelled", task.get_name(), grace_s)
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped with an error: %r", task.get_name(), task.exception())


def _radio_sources(config: GatewayConfig, sink: Sink, stop: asyncio.Event,
                   radio: Radio | None) -> list[asyncio.Task[None]]:  # fmt: skip
    """The BLE and MQTT sources, when enabled (imported only then: a simulator gateway needs no radio stack)."""
    tasks = []
    served = lambda: served_devices(sink.outbox)  # noqa: E731 - read fresh on every call
    if config.ble.enabled:
        from edge.sources.ble import BleSource
        from edge.sources.radio import radio_for

        source = BleSource(config.ble, sink, served, radio or radio_for(config.ble))
        tasks.append(asyncio.create_task(source.run(stop), name="ble"))
    if config.mqtt.enabled:
        from edge.sources.mqtt import MqttSource

        mqtt = MqttSource(config.mqtt, sink, served, client_id=f"tryggheim-{config.gateway_id}")
        tasks.append(asyncio.create_task(mqtt.run(stop), name="mqtt"))
    return tasks


async def run_agent(config: GatewayConfig, *, stop: asyncio.Event | None = None, radio: Radio | None = None) -> None:
    """Run until SIGTERM/SIGINT (or until `stop` is set, when given). `radio` replaces the configured BLE
    backends (tests that inject faults into a replay world)."""
    if stop is None:
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
    if config.local_alarm.enabled:
        from edge.local_alarm import LocalAlarm

        tasks.append(asyncio.create_task(LocalAlarm(config, outbox).run(stop), name="local_alarm"))
    if config.simulator.enabled:  # imported only then, as the radio sources: a real home has no simulated one
        from edge.sources.simulator import run_simulator

        tasks.append(asyncio.create_task(run_simulator(config.simulator, sink, stop), name="simulator"))
    tasks += _radio_sources(config, sink, stop, radio)
    outbox.set_state("agent_started_at", str(time.time()))
    print(f"edge agent running: gateway {config.gateway_id}, outbox epoch {outbox.epoch}", flush=True)  # noqa: T201
    sdnotify.notify("READY=1")
    for task in tasks:
        task.add_done_callback(_report_crash)
    watchdog = asyncio.create_task(sdnotify.keep_alive(lambda: _healthy(tasks, core=3), stop))
    try:
        await stop.wait()
    finally:
        stop.set()
        sdnotify.notify("STOPPING=1")
        await watchdog
        await _finish(tasks, STOP_GRACE_S)
        await client.aclose()
        outbox.close()
    print("edge agent stopped", file=sys.stderr, flush=True)  # noqa: T201
