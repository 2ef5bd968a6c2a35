"""The baseline detectors over many daily series at once (numpy, no Python loop over patients).

`sweep` answers, for every series and every day L, what `ZScoreRule` and `CusumRule` (alerts.trend) with
the same window would decide when evaluated with day L as the newest day: the baseline is the robust
baseline (median, scaled MAD) of the `baseline_days` days before the `monitor_days` newest days, used when
at least `min_baseline_days` of them have values; z-scores are taken of the monitored days; the z-score
rule triggers when the newest `persist_days` days are flagged, and CUSUM when its sum over the monitored
days passes `h` on the newest `persist_days` days. Days without a value are NaN; a missing day breaks a run
of flagged days as it does in the detectors. It is what a nightly evaluation of a whole population, or a
replay of one, computes; the tests check it against the detectors day by day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from alerts.baseline import MAD_TO_SD, BaselineWindow, Direction

Floats = npt.NDArray[np.float64]
CHUNK = 512
Flags = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SweepResult:
    """Per series (rows) and day (columns): the baseline centre and spread used, and which rules trigger.

    Days before a usable baseline exists have NaN centre and spread and never trigger.
    """

    center: Floats
    spread: Floats
    zscore: Flags
    cusum: Flags


def _nanmedian_last(windows: Floats) -> tuple[Floats, npt.NDArray[np.int64]]:
    """Median over the last axis ignoring NaN (sorting puts NaN last), and the count of values."""
    ordered = np.array(windows, order="C")  # a contiguous copy sorts several times faster than a strided view
    ordered.sort(axis=-1)
    count = np.sum(~np.isnan(windows), axis=-1)
    if not np.any(count != windows.shape[-1]):  # no missing day anywhere: the middle is fixed
        size = windows.shape[-1]
        return (ordered[..., (size - 1) // 2] + ordered[..., size // 2]) / 2, count
    middle = np.stack([np.maximum((count - 1) // 2, 0), np.maximum(count // 2, 0)], axis=-1)
    pair = np.take_along_axis(ordered, middle, axis=-1)
    median = np.where(count > 0, (pair[..., 0] + pair[..., 1]) / 2, np.nan)
    return median, count


def _flags(statistic: Floats, limit: float, direction: Direction) -> Flags:
    up = statistic > limit
    down = statistic < -limit
    return {"up": up, "down": down, "both": up | down}[direction]


def _tail_run(flags: Flags, present: Flags, persist: int) -> Flags:
    """Whether the newest `persist` monitored days (last axis) are all present and flagged."""
    tail: Flags = np.all((flags & present)[..., -persist:], axis=-1)
    return tail


def sweep(
    values: npt.ArrayLike,
    window: BaselineWindow | None = None,
    *,
    k: float = 2.0,
    cusum_k: float = 0.5,
    cusum_h: float = 4.0,
    persist_days: int = 2,
    direction: Direction = "up",
    dtype: type[np.floating[Any]] = np.float64,
) -> SweepResult:
    """Evaluate the z-score and CUSUM rules for every series (rows of `values`) as of every day (columns).

    `dtype` float32 halves memory traffic for population-size sweeps; float64 (the default) gives exactly
    the detectors' arithmetic.
    """
    w = window or BaselineWindow()
    if w.method != "robust":
        raise ValueError("the sweep computes the robust (median/MAD) baseline only")
    if persist_days > w.monitor_days:
        raise ValueError("persist_days cannot exceed monitor_days")
    data = np.atleast_2d(np.asarray(values, dtype=dtype))
    if data.shape[0] > CHUNK:
        # Series are independent; chunks keep the windows (35 values per series and day) in cache.
        parts = [
            sweep(data[i : i + CHUNK], w, k=k, cusum_k=cusum_k, cusum_h=cusum_h, persist_days=persist_days,
                  direction=direction, dtype=dtype)
            for i in range(0, data.shape[0], CHUNK)
        ]  # fmt: skip
        return SweepResult(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("center", "spread", "zscore", "cusum"))
        )
    series, days = data.shape
    span = w.baseline_days + w.monitor_days
    center = np.full((series, days), np.nan, dtype=dtype)
    spread = np.full((series, days), np.nan, dtype=dtype)
    zscore = np.zeros((series, days), dtype=bool)
    cusum = np.zeros((series, days), dtype=bool)
    first = w.monitor_days - 1
    if days <= first:
        return SweepResult(center, spread, zscore, cusum)
    # Day L sees its baseline at columns [L - span + 1, L - monitor_days] and monitors [L - monitor_days + 1,
    # L]. The detectors use a shorter baseline when fewer days exist (at least min_baseline_days), so the
    # series is padded with missing days in front and every day from monitor_days - 1 on gets a window.
    padded = np.concatenate([np.full((series, w.baseline_days), np.nan, dtype=dtype), data], axis=1)
    windows = sliding_window_view(padded, span, axis=1)  # (series, days - monitor_days + 1, span)
    baseline = windows[..., : w.baseline_days]
    monitored = windows[..., w.baseline_days :]
    median, count = _nanmedian_last(baseline)
    mad, _ = _nanmedian_last(np.abs(baseline - median[..., None]))
    scale = np.maximum(MAD_TO_SD * mad, w.min_spread)
    usable = (count >= w.min_baseline_days) & (scale > 0)
    # Windows without a usable baseline give NaN or infinite z; they are masked out below.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        z = (monitored - median[..., None]) / scale[..., None]
        z = np.where(usable[..., None], z, np.nan)
    present = ~np.isnan(monitored)
    # The detectors judge the newest day that has a value; a sweep day without one decides nothing.
    newest_present = present[..., -1]
    triggered_z = _tail_run(_flags(np.nan_to_num(z), k, direction), present, persist_days)
    upper = np.zeros(z.shape[:-1], dtype=dtype)
    lower = np.zeros(z.shape[:-1], dtype=dtype)
    sums = np.zeros(z.shape, dtype=dtype)
    for i in range(w.monitor_days):  # seven steps, each over every series and day at once
        step = z[..., i]
        gap = np.isnan(step)
        step = np.where(gap, 0.0, step)  # a missing day leaves the sums as they are
        upper = np.where(gap, upper, np.maximum(0.0, upper + step - cusum_k))
        lower = np.where(gap, lower, np.maximum(0.0, lower - step - cusum_k))
        both = np.where(upper >= lower, upper, -lower)
        sums[..., i] = {"up": upper, "down": -lower, "both": both}[direction]
    triggered_c = _tail_run(_flags(sums, cusum_h, direction), present, persist_days)
    ok = usable & newest_present
    center[:, first:] = np.where(usable, median, np.nan)
    spread[:, first:] = np.where(usable, scale, np.nan)
    zscore[:, first:] = ok & triggered_z
    cusum[:, first:] = ok & triggered_c
    return SweepResult(center, spread, zscore, cusum)
