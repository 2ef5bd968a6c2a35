"""Replaying one patient's readings through a protocol, as the live system would see them.

Readings are fed in time order. At each reading's time the rules its metric touches are evaluated (as the
cloud's evaluation queue does after ingest); on every quarter hour the clock-driven rules are evaluated (as
the cloud's scheduler does). Quarter hours include every Oslo midnight, so day-boundary rules are seen at
the boundary. The replay's gateway is taken to be up throughout; devices are the CSV's `device` column, or
one simulated device per metric. A reading marked doubtful (the CSV's optional `doubtful` column) makes a
threshold rule wait for a new measurement; the rule is judged again when its wait is over, as the cloud's
delayed re-evaluation does.
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np

from alerts.days import DAY_S, OSLO
from alerts.evaluate import LivenessFacts, PatientState, evaluate_patient
from alerts.inputs import DeviceFacts, GatewayFacts, Window
from alerts.lifecycle import Event, Transition
from alerts.protocols.model import Protocol
from device_profiles.errors import UnitError
from device_profiles.metrics import load_catalogue

TICK_S: Final = 900.0
GATEWAY: Final = "replay-gateway"
COLUMNS: Final = ("measured_at", "metric", "value", "unit")


class ReplayInputError(ValueError):
    """The replay input is unusable; the message names the line and the problem."""


@dataclass(frozen=True)
class ReplayReading:
    """One reading in canonical units: Unix seconds (UTC), metric key, value, and the device if known."""

    time: float
    metric: str
    value: float
    device: str | None = None
    doubtful: bool = False


def _time(text: str, tz: str) -> float:
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"measured_at {text!r} is not an ISO-8601 time") from exc
    # A time without an offset is read as the patient's local wall-clock time.
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(tz))).timestamp()


_YES: Final = frozenset({"1", "true", "yes"})
_NO: Final = frozenset({"", "0", "false", "no"})


def _doubtful(text: str | None, where: str) -> bool:
    flag = (text or "").strip().lower()
    if flag not in _YES | _NO:
        raise ReplayInputError(f"{where}: doubtful {text!r} is not one of 1/0, true/false, yes/no")
    return flag in _YES


def parse_readings_csv(text: str, tz: str = OSLO) -> list[ReplayReading]:
    """Readings from CSV text with columns measured_at,metric,value,unit (and optionally device, doubtful).

    Values are converted to the metric's canonical unit with the catalogue. Raises ReplayInputError naming
    the line for a missing column, an unknown metric, a unit with no conversion, a value outside the metric's
    plausible range (a symptom score of 7 on a 0-4 scale), or a value or time that is not one.
    """
    rows = csv.DictReader(io.StringIO(text))
    missing = [column for column in COLUMNS if column not in (rows.fieldnames or ())]
    if missing:
        raise ReplayInputError(f"line 1: missing column(s) {', '.join(missing)} (need {','.join(COLUMNS)})")
    catalogue = load_catalogue()
    readings = []
    for row in rows:
        where = f"line {rows.line_num}"
        metric = (row["metric"] or "").strip()
        if metric not in catalogue:
            raise ReplayInputError(f"{where}: unknown metric {metric!r}")
        try:
            value = catalogue.to_canonical(metric, Decimal((row["value"] or "").strip()), (row["unit"] or "").strip())
            time = _time(row["measured_at"] or "", tz)
        except (InvalidOperation, UnitError, ValueError) as exc:
            message = f"value {row['value']!r} is not a number" if isinstance(exc, InvalidOperation) else str(exc)
            raise ReplayInputError(f"{where}: {message}") from exc
        if not math.isfinite(float(value)):
            raise ReplayInputError(f"{where}: value {row['value']!r} is not a finite number")
        if catalogue[metric].range is not None and not catalogue[metric].within_range(float(value)):
            low, high = catalogue[metric].range or (0, 0)
            raise ReplayInputError(f"{where}: {metric} {row['value']!r} is outside its range {low:g}-{high:g}")
        if catalogue[metric].kind == "ordinal" and float(value) != int(value):
            raise ReplayInputError(f"{where}: {metric} {row['value']!r} is not a whole answer")
        device = (row.get("device") or "").strip() or None
        readings.append(ReplayReading(time, metric, float(value), device, _doubtful(row.get("doubtful"), where)))
    if not readings:
        raise ReplayInputError("no readings")
    return readings


class _Store:
    """The readings and device facts the cloud would hold at the replayed time."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.values: dict[str, list[float]] = {}
        self.doubtful: dict[str, list[bool]] = {}
        self.devices: dict[str, DeviceFacts] = {}

    def add(self, reading: ReplayReading) -> None:
        self.times.setdefault(reading.metric, []).append(reading.time)
        self.values.setdefault(reading.metric, []).append(reading.value)
        self.doubtful.setdefault(reading.metric, []).append(reading.doubtful)
        name = reading.device or f"{reading.metric}-sensor"
        known = self.devices.get(name, DeviceFacts(device_id=name, metrics=(), gateway_id=GATEWAY))
        health = load_catalogue()[reading.metric].kind == "device-health"
        self.devices[name] = DeviceFacts(
            device_id=name,
            metrics=known.metrics if health or reading.metric in known.metrics else (*known.metrics, reading.metric),
            last_seen=reading.time,
            battery_pct=reading.value if reading.metric == "device.battery" else known.battery_pct,
            gateway_id=GATEWAY,
        )

    def windows(self, now: float, days: dict[str, int]) -> dict[str, Window]:
        out = {}
        for metric, times in self.times.items():
            t = np.asarray(times)
            first = int(np.searchsorted(t, now - days.get(metric, 35) * DAY_S))
            out[metric] = Window.of(t[first:], self.values[metric][first:], self.doubtful[metric][first:])
        return out


def _moments(readings: Sequence[ReplayReading], tick_s: float, until: float) -> list[tuple[float, set[str], bool]]:
    """(time, metrics that arrived, whether it is a scheduled tick), in time order."""
    moments: dict[float, tuple[set[str], bool]] = {}
    for reading in readings:
        moments.setdefault(reading.time, (set(), False))[0].add(reading.metric)
    tick = math.ceil(readings[0].time / tick_s) * tick_s
    while tick <= until:
        metrics, _ = moments.get(tick, (set(), False))
        moments[tick] = (metrics, True)
        tick += tick_s
    return [(time, metrics, scheduled) for time, (metrics, scheduled) in sorted(moments.items())]


def _rechecks(transitions: Iterable[Transition]) -> list[tuple[float, str]]:
    """(time, rule) of the re-evaluations the transitions ask for: a rule waiting for a new measurement."""
    found = []
    for t in transitions:
        until = t.explanation.get("wait_until") if t.event is Event.REMEASURE_REQUESTED else None
        if isinstance(until, float):
            found.append((until, t.rule))
    return found


def replay(
    protocol: Protocol,
    readings: Iterable[ReplayReading],
    tick_s: float = TICK_S,
    until: float | None = None,
    state: PatientState | None = None,
) -> list[Transition]:
    """Every transition the live system would have produced, in order (time-based rules included up to
    `until`, by default the last reading's time)."""
    ordered = sorted(readings, key=lambda reading: reading.time)
    if not ordered:
        return []
    state = state or PatientState()
    end = ordered[-1].time if until is None else until
    days = protocol.window_days()
    scheduled = set(protocol.scheduled_rules())
    store = _Store()
    pending = iter(ordered)
    upcoming = next(pending, None)
    transitions: list[Transition] = []
    moments = _moments(ordered, tick_s, end)
    rechecks: list[tuple[float, str]] = []
    index = 0
    metrics: set[str]
    rules: set[str]
    while index < len(moments) or rechecks:
        if rechecks and (index == len(moments) or rechecks[0][0] < moments[index][0]):
            now, rule = heapq.heappop(rechecks)
            metrics, tick, rules = set(), False, {rule}
        else:
            now, metrics, tick = moments[index]
            index += 1
            rules = set()
        while upcoming is not None and upcoming.time <= now:
            store.add(upcoming)
            upcoming = next(pending, None)
        rules |= set(protocol.rules_for_metrics(metrics)) | (scheduled if tick else set())
        if not rules:
            continue
        facts = LivenessFacts(tuple(store.devices.values()), (GatewayFacts(GATEWAY, last_heartbeat=now),))
        result = evaluate_patient(protocol, state, store.windows(now, days), facts, now, rules)
        state = state.apply(result.transitions)
        transitions.extend(result.transitions)
        for recheck in _rechecks(result.transitions):
            heapq.heappush(rechecks, recheck)
    return transitions
