"""Turning a raw history window into a clean time series every detector can trust.

Windows arrive as the cloud stored them: out of order (a gateway's outbox drains late), with the same
reading twice (an uplink retry), with NaN from a codec, or stamped by a gateway whose clock was reset to
1970 or jumped ahead. Detectors must never raise on any of this, and must say what they left out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

P = ParamSpec("P")
R = TypeVar("R")

# A reading stamped before 2000 or after 2100 comes from a reset or jumped clock, not from the patient's life.
EARLIEST_S: Final = 946_684_800.0  # 2000-01-01T00:00Z
LATEST_S: Final = 4_102_444_800.0  # 2100-01-01T00:00Z
FUTURE_TOLERANCE_S: Final = 300.0  # gateway clocks drift a little; more than this ahead of `now` is a jump


@dataclass(frozen=True)
class Series:
    """Readings sorted by time, one per timestamp, all finite; `dropped` counts what was left out and why.
    `doubtful` marks, per reading, that the device flagged the measurement as unreliable (device_profiles.quality)."""

    times: FloatArray
    values: FloatArray
    dropped: Mapping[str, int] = field(default_factory=dict)
    doubtful: BoolArray = field(default_factory=lambda: np.empty(0, dtype=np.bool_))

    def __post_init__(self) -> None:
        if self.doubtful.size != self.times.size:
            object.__setattr__(self, "doubtful", np.zeros(self.times.size, dtype=np.bool_))

    def __len__(self) -> int:
        return int(self.times.size)


def as_floats(data: npt.ArrayLike) -> FloatArray:
    """A flat float64 array; anything that is not numeric becomes an empty array rather than an error."""
    try:
        return np.asarray(data, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return np.empty(0, dtype=np.float64)


def as_flags(data: npt.ArrayLike | None, size: int) -> BoolArray:
    """Per-reading flags of length `size`; missing or malformed flags count as not set."""
    if data is None:
        return np.zeros(size, dtype=np.bool_)
    try:
        flags = np.asarray(data, dtype=np.bool_).ravel()
    except (TypeError, ValueError):
        return np.zeros(size, dtype=np.bool_)
    return flags if flags.size == size else np.zeros(size, dtype=np.bool_)


def clean(
    times: npt.ArrayLike,
    values: npt.ArrayLike,
    now: float | None = None,
    future_tolerance_s: float = FUTURE_TOLERANCE_S,
    doubtful: npt.ArrayLike | None = None,
) -> Series:
    """Sort, de-duplicate and filter a window of (Unix seconds UTC, value) readings.

    Of several readings with the same timestamp the one given last wins: a later row is a retry or a
    correction of the same measurement. Readings with a non-finite time or value, an implausible time, or
    a time more than `future_tolerance_s` after `now` are dropped and counted.
    """
    t = as_floats(times)
    v = as_floats(values)
    d = as_flags(doubtful, t.size)
    dropped: dict[str, int] = {}
    if t.size != v.size:
        dropped["unpaired"] = abs(int(t.size) - int(v.size))
        size = min(t.size, v.size)
        t, v, d = t[:size], v[:size], d[:size]
    reasons: list[tuple[str, npt.NDArray[np.bool_]]] = [
        ("bad_time", ~np.isfinite(t)),
        ("implausible_time", np.isfinite(t) & ((t < EARLIEST_S) | (t > LATEST_S))),
        ("future_time", np.isfinite(t) & (t > (np.inf if now is None else now + future_tolerance_s))),
        ("non_finite_value", ~np.isfinite(v)),
    ]
    keep = np.ones(t.size, dtype=bool)
    for reason, bad in reasons:
        newly = bad & keep
        if newly.any():
            dropped[reason] = int(newly.sum())
        keep &= ~bad
    t, v, d = t[keep], v[keep], d[keep]
    order = np.argsort(t, kind="stable")
    t, v, d = t[order], v[order], d[order]
    # After a stable sort equal times keep arrival order, so the last of each run is the newest arrival.
    last_of_run = np.append(t[1:] != t[:-1], True) if t.size else np.empty(0, dtype=bool)
    if t.size and not last_of_run.all():
        dropped["duplicate_time"] = int((~last_of_run).sum())
    return Series(times=t[last_of_run], values=v[last_of_run], dropped=dropped, doubtful=d[last_of_run])


def quiet_numerics(evaluate: Callable[P, R]) -> Callable[P, R]:
    """Let absurd-but-finite inputs (1e308) overflow to infinity silently inside a detector.

    The result is still a decision, and the explanation shows the infinity; a numpy warning per
    evaluation would only flood the cloud's logs.
    """

    @functools.wraps(evaluate)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with np.errstate(all="ignore"):
            return evaluate(*args, **kwargs)

    return wrapper
