"""What one evaluation is given: reading windows, device and gateway liveness facts, and the clock.

Evaluation is a pure function of these values. The cloud fills them from its database; the replay command
fills them from a CSV file; tests write them by hand. Nothing here reads a clock: `now` is always given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts.days import OSLO
from alerts.explain import Decision
from alerts.series import BoolArray, FloatArray, as_flags, as_floats

_EMPTY: Final = np.empty(0, dtype=np.float64)


@dataclass(frozen=True)
class Window:
    """One metric's readings: Unix seconds (UTC) and values in the metric's canonical unit, any order.

    `doubtful` marks the readings the device flagged as unreliable (device_profiles.quality); when it is
    empty no reading is doubtful.
    """

    times: FloatArray = field(default_factory=lambda: _EMPTY)
    values: FloatArray = field(default_factory=lambda: _EMPTY)
    doubtful: BoolArray = field(default_factory=lambda: np.empty(0, dtype=np.bool_))

    @staticmethod
    def of(times: npt.ArrayLike, values: npt.ArrayLike, doubtful: npt.ArrayLike | None = None) -> Window:
        """A window from numpy arrays, lists or tuples (non-numeric input becomes an empty window)."""
        t = as_floats(times)
        return Window(t, as_floats(values), as_flags(doubtful, t.size))

    def flags(self) -> BoolArray:
        """The doubtful mask, one entry per reading (all false when none was given)."""
        return as_flags(self.doubtful if self.doubtful.size else None, self.times.size)

    def trusted(self) -> Window:
        """The readings the device did not flag as doubtful."""
        keep = ~self.flags()
        if keep.all():
            return self
        return Window(self.times[keep], self.values[keep])


@dataclass(frozen=True)
class DeviceFacts:
    """What the cloud knows about one of the patient's devices.

    `last_seen` is when the device's newest message of any kind (a reading, a battery report, a supervision
    ping) was received; `metrics` are the metric keys the device reports, so liveness rules can find "the
    alarm button". `since` is when the device became this patient's to watch (the start of its current
    assignment, registration or consent): silence is not counted from before it. None when unknown.
    """

    device_id: str
    metrics: tuple[str, ...]
    last_seen: float | None = None
    battery_pct: float | None = None
    gateway_id: str | None = None
    since: float | None = None


@dataclass(frozen=True)
class GatewayFacts:
    """A home gateway and its newest heartbeat (Unix seconds).

    `since` is when the patient came to depend on the gateway: its enrolment, or the start of the oldest
    current registration and assignment of the patient's devices behind it, whichever is later. A gateway
    never heard from is counted as silent from then on. None when unknown.
    """

    gateway_id: str
    last_heartbeat: float | None = None
    since: float | None = None


@dataclass(frozen=True)
class Context:
    """Everything a detector may look at for one patient at one instant.

    `handled_until` is the newest input time already accounted for by a closed alert or a recorded
    suppression of the rule being evaluated, so an event seen once does not raise a second alert.
    `gateways_down` is filled by the evaluation from the protocol's heartbeat rule (for inhibition).
    """

    now: float
    windows: Mapping[str, Window] = field(default_factory=dict)
    devices: tuple[DeviceFacts, ...] = ()
    gateways: tuple[GatewayFacts, ...] = ()
    spo2_scale: int = 1
    handled_until: float | None = None
    gateways_down: frozenset[str] = frozenset()
    tz: str = OSLO

    def window(self, metric: str) -> Window:
        """The metric's readings (empty when the patient has none)."""
        return self.windows.get(metric, Window())


@dataclass(frozen=True)
class Remeasure:
    """A rule is waiting for a new measurement of `metric` because the newest one, taken at `reading_at`,
    was flagged doubtful by the device; it judges again with whatever has arrived at `wait_until`."""

    metric: str
    reading_at: float
    wait_until: float


@dataclass(frozen=True)
class Outcome:
    """A detector's decision plus what the alert lifecycle needs to know about it.

    `summary` is a short human phrase for the alert message ("weight +2.4 kg in 3 days"). `last_input_at`
    is the time of the newest reading the decision rests on: a repeat is counted only when it advances.
    `inhibited` is true when every reason for the trigger sits behind a gateway that is down. `remeasure` is set
    while the rule waits for a new measurement instead of judging a doubtful one.
    """

    decision: Decision
    summary: str
    last_input_at: float | None = None
    inhibited: bool = False
    remeasure: Remeasure | None = None
