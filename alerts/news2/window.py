"""NEWS2 from timed observations: which readings belong to one observation set.

A NEWS2 describes one moment. Parameters measured more than `window_s` (default 60 minutes) before the
newest observation describe another moment, so they count as missing rather than being mixed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from alerts.news2.chart import Param
from alerts.news2.score import News2Input, News2Result, consciousness_of, rounded, score_news2

DEFAULT_WINDOW_S: Final = 3600.0

# NEWS2 parameter -> the platform's metric key. Consciousness and supplemental oxygen have no sensor: a nurse
# enters them at a visit (cloud/ingest/manual.py), like any reading.
METRIC_KEYS: Final[dict[Param, str]] = {
    Param.RR: "resp.rate",
    Param.SPO2: "spo2",
    Param.OXYGEN: "oxygen.supplemental",
    Param.SBP: "bp.systolic",
    Param.PULSE: "heart_rate",
    Param.CONSCIOUSNESS: "consciousness",
    Param.TEMP: "body.temperature",
}

_NAMES: Final = frozenset(param.value for param in Param)
# The labels of the `oxygen.supplemental` levels (metric catalogue): on supplemental oxygen, or on air.
ON_OXYGEN: Final = "oxygen"
ON_AIR: Final = "air"


def from_stored(param: Param, value: float, levels: tuple[str, ...] | None) -> float | str | bool:
    """A stored reading as NEWS2 takes it. A labelled state is stored as the index of its level in the metric
    catalogue (consciousness "A" is 0): NEWS2 wants the ACVPU letter, and for oxygen whether it is on. An index
    that names no level is passed on as text, so it is skipped and named in the notes rather than guessed."""
    if levels is None:
        return value
    index = int(value) if float(value).is_integer() else -1
    if not 0 <= index < len(levels):
        return f"level {value:g}"
    return levels[index] == ON_OXYGEN if param is Param.OXYGEN else levels[index]


@dataclass(frozen=True)
class Observation:
    """One measured NEWS2 parameter: `param` is a NEWS2 name ("rr", ...), `time` Unix seconds (UTC)."""

    param: str
    time: float
    value: float | str | bool


def _problem(obs: Observation, now: float | None) -> str | None:
    """Why an observation cannot be used, or None if it can."""
    if obs.param not in _NAMES:
        return f"{obs.param}: not a NEWS2 parameter"
    if not isinstance(obs.time, (int, float)) or not math.isfinite(obs.time):
        return f"{obs.param}: observation time {obs.time!r} is not a time"
    if now is not None and obs.time > now:
        return f"{obs.param}: observed in the future ({obs.time} > now {now}); clock error?"
    param = Param(obs.param)
    try:
        if param is Param.CONSCIOUSNESS:
            consciousness_of(obs.value)
        elif param is Param.OXYGEN:
            if not isinstance(obs.value, bool):
                return f"oxygen: {obs.value!r} is not true or false"
        elif isinstance(obs.value, str):
            return f"{param.value}: {obs.value!r} is not a number"
        else:
            rounded(param, obs.value)
    except ValueError as exc:
        return str(exc)
    return None


def news2_from_observations(
    observations: Iterable[Observation],
    scale: int = 1,
    window_s: float = DEFAULT_WINDOW_S,
    now: float | None = None,
) -> News2Result:
    """NEWS2 from the newest valid observation of each parameter within `window_s` of the newest of all.

    Invalid observations (unknown parameter, implausible value, non-finite or future time) are skipped
    and named in the explanation's notes; they never raise. Arrival order does not matter. Of several
    observations of one parameter at the same time, the last one given wins (a correction).
    """
    notes: list[str] = []
    newest: dict[Param, Observation] = {}
    for obs in observations:
        problem = _problem(obs, now)
        if problem is not None:
            notes.append(f"skipped {problem}")
            continue
        param = Param(obs.param)
        if param not in newest or obs.time >= newest[param].time:
            newest[param] = obs
    if newest:
        latest = max(obs.time for obs in newest.values())
        for param, obs in list(newest.items()):
            if latest - obs.time > window_s:
                notes.append(f"{param.value}: measured {latest - obs.time:.0f} s before the newest; too old")
                del newest[param]
    notes.append(f"window: parameters within {window_s:.0f} s of the newest observation")

    def number(param: Param) -> float | None:
        obs = newest.get(param)
        return None if obs is None else float(obs.value)

    oxygen = newest.get(Param.OXYGEN)
    consciousness = newest.get(Param.CONSCIOUSNESS)
    observed = News2Input(
        rr=number(Param.RR),
        spo2=number(Param.SPO2),
        oxygen=None if oxygen is None else bool(oxygen.value),
        sbp=number(Param.SBP),
        pulse=number(Param.PULSE),
        consciousness=None if consciousness is None else consciousness_of(consciousness.value),
        temp=number(Param.TEMP),
        scale=scale,
    )
    return score_news2(observed, extra_notes=tuple(notes))
