"""Liveness contracts: is every source still talking, and were planned measurements taken?

A silent sensor, a flat battery, a gateway that stopped sending heartbeats and a missed morning weight are
not clinical findings, but each one means a clinical or safety alert may never come. They are separate
alert classes (`liveness`, `data_quality`) so nurses and installers see them apart from clinical alerts.
When a gateway is down, the sensors behind it are silent because of it: their "silent" alerts are
inhibited (recorded, not notified) so the installer gets one alert, not one per sensor.

Silence is counted from the later of the source's last message and the moment it became the patient's to
watch (a device's assignment, a gateway's enrolment): a kit enrolled a minute ago has not been silent for 30
minutes, and a sensor moved in from another home has not been silent here for the days it lay in a drawer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

from alerts.explain import Decision, Explanation, JSONValue, Level, Status
from alerts.inputs import Context, DeviceFacts, Outcome
from alerts.series import clean

SILENT_RULE: Final = "liveness.silent"
BATTERY_RULE: Final = "liveness.low_battery"
HEARTBEAT_RULE: Final = "liveness.gateway_heartbeat"
PLANNED_RULE: Final = "liveness.planned_measurement"


def _decision(triggered: bool, level: Level, explanation: Explanation) -> Decision:
    return Decision(level if triggered else Level.GREEN, triggered, Status.EVALUATED, explanation)


def last_heard(device: DeviceFacts) -> float | None:
    """The newest sign of life from the device itself: its newest message of any kind (`last_seen`). The
    patient's reading windows are not evidence: a nurse's pulse entered at a visit, or another device's pulse,
    says nothing about whether this oximeter still talks."""
    return device.last_seen


def silent_since(heard: float | None, since: float | None) -> float | None:
    """From when a source counts as silent: its last message, but never before it became the patient's to
    watch; None (silent for ever) when neither is known."""
    known = [moment for moment in (heard, since) if moment is not None]
    return max(known) if known else None


def _quiet_longer_than(start: float | None, now: float, seconds: float) -> bool:
    return start is None or now - start > seconds


@dataclass(frozen=True)
class SilentRule:
    """Triggered when a device reporting `metric` has sent nothing at all (not even a battery report) for
    `hours`, counted from its last message but never from before it became the patient's (`DeviceFacts.since`).
    Periodic sensors use their expected cadence with a margin; event-only devices such as an alarm
    button use a supervision period of days."""

    metric: str
    hours: float
    level: Level = Level.YELLOW

    def evaluate(self, ctx: Context) -> Outcome:
        """Find the silent devices; the alert is inhibited when all of them sit behind a gateway that is down."""
        devices = [device for device in ctx.devices if self.metric in device.metrics]
        silent: list[dict[str, JSONValue]] = []
        for device in devices:
            heard = last_heard(device)
            if _quiet_longer_than(silent_since(heard, device.since), ctx.now, self.hours * 3600):
                behind_down = device.gateway_id is not None and device.gateway_id in ctx.gateways_down
                silent.append(
                    {
                        "device": device.device_id,
                        "last_heard": heard,
                        "since": device.since,
                        "gateway_down": behind_down,
                    }
                )
        explanation = Explanation(
            SILENT_RULE,
            inputs={"devices": [device.device_id for device in devices]},
            values={"silent": silent},
            thresholds={"metric": self.metric, "hours": self.hours},
        )
        inhibited = bool(silent) and all(entry["gateway_down"] for entry in silent)
        names = ", ".join(str(entry["device"]) for entry in silent)
        return Outcome(_decision(bool(silent), self.level, explanation), f"silent: {names}", inhibited=inhibited)


@dataclass(frozen=True)
class LowBatteryRule:
    """Triggered when a device's last battery report is below `below` percent."""

    below: float = 20.0
    level: Level = Level.YELLOW

    def evaluate(self, ctx: Context) -> Outcome:
        """Devices with a low battery, lowest first."""
        low = sorted(
            (device.battery_pct, device.device_id)
            for device in ctx.devices
            if device.battery_pct is not None and device.battery_pct < self.below
        )
        explanation = Explanation(
            BATTERY_RULE,
            inputs={"devices": len(ctx.devices)},
            values={"low": [{"device": name, "battery_pct": pct} for pct, name in low]},
            thresholds={"below": self.below},
        )
        summary = ", ".join(f"{name} {pct:.0f} %" for pct, name in low)
        return Outcome(_decision(bool(low), self.level, explanation), f"battery low: {summary}")


@dataclass(frozen=True)
class GatewayHeartbeatRule:
    """Triggered when a gateway has not been heard from for more than `minutes`: counted from its newest
    heartbeat, but never from before the patient came to depend on it (`GatewayFacts.since`)."""

    minutes: float = 15.0
    level: Level = Level.YELLOW

    def down(self, ctx: Context) -> frozenset[str]:
        """The gateways this rule considers down at `ctx.now`."""
        return frozenset(
            gateway.gateway_id
            for gateway in ctx.gateways
            if _quiet_longer_than(silent_since(gateway.last_heartbeat, gateway.since), ctx.now, self.minutes * 60)
        )

    def evaluate(self, ctx: Context) -> Outcome:
        """Which gateways are down."""
        down = sorted(self.down(ctx))
        explanation = Explanation(
            HEARTBEAT_RULE,
            inputs={
                "gateways": {g.gateway_id: g.last_heartbeat for g in ctx.gateways},
                "since": {g.gateway_id: g.since for g in ctx.gateways},
            },
            values={"down": list(down)},
            thresholds={"minutes": self.minutes},
        )
        return Outcome(_decision(bool(down), self.level, explanation), f"gateway down: {', '.join(down)}")


@dataclass(frozen=True)
class PlannedMeasurementRule:
    """Triggered when no reading of `metric` has arrived since the start of the local day of the most recent
    planned time `due_by` (local hour): the morning weight not taken by 11:00. It stays raised until a reading
    arrives, then resolves."""

    metric: str = "body.weight"
    due_by: float = 11.0
    level: Level = Level.YELLOW

    def evaluate(self, ctx: Context) -> Outcome:
        """Judge the newest reading against the most recent due time."""
        local_now = dt.datetime.fromtimestamp(ctx.now, ZoneInfo(ctx.tz))
        hour, minute = int(self.due_by), round((self.due_by - int(self.due_by)) * 60)
        due = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if due > local_now:
            due -= dt.timedelta(days=1)
        day_start = due.replace(hour=0, minute=0).timestamp()
        window = ctx.window(self.metric)
        series = clean(window.times, window.values, ctx.now)
        newest = float(series.times[-1]) if len(series) else None
        # A missed time a nurse already closed stays closed; the next planned time is judged afresh.
        new = ctx.handled_until is None or due.timestamp() > ctx.handled_until
        missed = (newest is None or newest < day_start) and new
        explanation = Explanation(
            PLANNED_RULE,
            inputs={"newest_time": newest},
            values={"due": due.isoformat(), "missed": missed},
            thresholds={"metric": self.metric, "due_by": self.due_by},
        )
        summary = f"no {self.metric} by {due.strftime('%H:%M')} on {due.date().isoformat()}"
        return Outcome(_decision(missed, self.level, explanation), summary, due.timestamp())
