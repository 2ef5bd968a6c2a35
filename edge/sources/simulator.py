"""The simulator source: a seeded virtual home (device_profiles.sim) played into the real outbox.

The simulated clock runs `speed` times faster than real time from an anchor stored in the outbox, so a
restarted agent continues the same stream where it stopped instead of starting over. The index of the next
event is written in the same transaction as the readings it produced, so after `kill -9` no event is lost or
produced twice. SIG GATT payloads go through the real codecs; a payload they cannot read is malformed input.
Readings carry the event index in `context["sim_event"]`, so tests can count the stream end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from datetime import UTC, datetime, timedelta

from device_profiles import DecodeError, Observation, decode_characteristic
from device_profiles.sim import HomeSimulator, SimEvent
from device_profiles.sim.scenarios import AlarmPress, GarbagePayload, Scenario, VitalShift, WeightGain
from edge.config import SimulatorConfig
from edge.sink import Sink

CURSOR = "sim.cursor"
ANCHOR = "sim.anchor"


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_simulator(config: SimulatorConfig, start: datetime) -> HomeSimulator:
    """The home described by the config, starting at `start`."""
    scenarios: list[Scenario] = [AlarmPress(_moment(t)) for t in config.alarm_presses]
    scenarios += [GarbagePayload(_moment(t)) for t in config.garbage_at]
    for change in config.scenarios:
        begins = _moment(change.start)
        if change.kind == "weight_gain":
            scenarios.append(WeightGain(begins, kg_per_day=change.kg_per_day, days=change.days))
        else:
            scenarios.append(VitalShift(begins, change.days, pulse=change.pulse, spo2=change.spo2,
                                        systolic=change.systolic))  # fmt: skip
    return HomeSimulator(config.seed, start, scenarios=tuple(scenarios))


def decode(event: SimEvent, received_at: datetime) -> tuple[Observation, ...]:
    """What the gateway reads from the event's payload (raises DecodeError for garbage)."""
    if event.payload.kind == "gatt" and event.payload.characteristic is not None:
        decoded = decode_characteristic(
            event.payload.characteristic, event.payload.data, device_id=event.device.address, received_at=received_at
        )
        readings = decoded.observations
    else:
        readings = tuple(dataclasses.replace(o, received_at=received_at) for o in event.observations)
    return tuple(dataclasses.replace(o, context={**o.context, "sim_event": event.index}) for o in readings)


def played(readings: tuple[Observation, ...], played_at: datetime) -> tuple[Observation, ...]:
    """The readings as the gateway stores them when the event is played at `played_at` (real time).

    A simulated device's clock never runs ahead of the real one: at a speed above 1 the simulated moment of
    an event lies after the real moment it is played at, and the cloud refuses a reading from the future
    (quarantine `implausible_time`), so such a reading takes the moment it is played. Readings of a simulated
    past (a start before now, caught up at speed) keep their own time."""
    return tuple(
        o if o.measured_at is None or o.measured_at <= played_at else dataclasses.replace(o, measured_at=played_at)
        for o in readings
    )


async def run_simulator(config: SimulatorConfig, sink: Sink, stop: asyncio.Event) -> None:
    """Play events until the limit, or until `stop`."""
    outbox = sink.outbox
    anchor_text = outbox.get_state(ANCHOR)
    if anchor_text is None:
        anchor_text = str(time.time())
        outbox.set_state(ANCHOR, anchor_text)
    anchor = float(anchor_text)
    start = _moment(config.start) if config.start else datetime.fromtimestamp(anchor, UTC)
    # With a history (`live_from` after `start`), the events before `live_from` are due at once and the clock
    # runs at `speed` from there.
    clock_from = _moment(config.live_from) if config.live_from else start
    simulator = build_simulator(config, start)
    for device in simulator.devices:
        sink.seen(device.address, device.profile_id)
    cursor = int(outbox.get_state(CURSOR) or 0)
    for event in itertools.islice(simulator.events(), cursor, None):
        if config.limit is not None and event.index >= config.limit:
            return
        virtual_now = clock_from + timedelta(seconds=(time.time() - anchor) * config.speed)
        wait = (event.at - virtual_now).total_seconds() / config.speed
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
        if stop.is_set():
            return
        progress = {CURSOR: str(event.index + 1)}
        received = datetime.now(UTC)
        try:
            readings = played(decode(event, received), received)
        except DecodeError as exc:
            sink.malformed(event.device.address, event.payload.data, str(exc), state=progress)
            continue
        sink.observations(readings, state=progress)
        # Yield to the uplink between events even when catching up after a restart.
        await asyncio.sleep(0)
