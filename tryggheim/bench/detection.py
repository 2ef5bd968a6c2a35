"""Detection benchmark: the baseline detectors over a population, in memory and through the database.

- `in_memory`: daily series for N patients x 90 days x 4 metrics (weight, pulse, SpO2, systolic pressure),
  with 5 % missing days and a shift in 5 % of the series; `alerts.sweep` evaluates the z-score and CUSUM
  rules as of every day (what a replay of the period computes, 84 evaluation days per series) in float32,
  the series split over the machine's cores. Data generation is not timed.
- `database`: N patients on a private PostgreSQL (unless given a superuser URL) with 90 days of readings
  (weight once, pulse, SpO2 and systolic pressure twice a day) on the heart-failure protocol; timed are
  (1) the real evaluation path, every patient's rules evaluated and applied by the evaluation worker
  (cloud.evaluation.drain) after a full queue, with the CPU it took in this process and in the database's
  server processes (when the server runs on this machine), (2) the daily series of all patients read with
  SQL and swept in memory, and (3) the baseline proposals of all patients (cloud.evaluation.baselines).
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import psycopg

from alerts.baseline import BaselineWindow, Direction
from alerts.sweep import sweep

DAYS: Final = 90
# metric: (population mean, between-person SD, day-to-day SD, min_spread, direction that matters)
METRICS: Final[dict[str, tuple[float, float, float, float, Direction]]] = {
    "body.weight": (80.0, 12.0, 0.3, 0.5, "up"),
    "heart_rate": (72.0, 8.0, 3.5, 3.0, "up"),
    "spo2": (95.0, 1.5, 0.8, 1.0, "down"),
    "bp.systolic": (130.0, 12.0, 6.0, 5.0, "both"),
}
UNITS: Final = {"body.weight": "kg", "heart_rate": "/min", "spo2": "%", "bp.systolic": "mm[Hg]"}


def series(patients: int, metric: str, seed: int, days: int = DAYS) -> npt.NDArray[np.float32]:
    """Daily values of one metric for `patients` people: personal mean, daily noise, 5 % missing days, and a
    shift of 3 day-to-day SDs over the last 14 days in 5 % of the people."""
    mean, between, within, _, direction = METRICS[metric]
    rng = np.random.default_rng([seed, list(METRICS).index(metric)])
    values = rng.normal(mean, between, (patients, 1)) + rng.normal(0.0, within, (patients, days))
    shifted = rng.random(patients) < 0.05
    ramp = np.clip((np.arange(days) - (days - 14)) / 7, 0, 1) * 3 * within * (-1 if direction == "down" else 1)
    values[shifted] += ramp
    values[rng.random((patients, days)) < 0.05] = np.nan
    return values.astype(np.float32)


def _window(metric: str) -> BaselineWindow:
    return BaselineWindow(min_spread=METRICS[metric][3])


def _sweep_part(job: tuple[int, int, int]) -> tuple[float, int, int]:
    """One process's share: generate, then time the sweep of every metric. Returns (s, z-score, CUSUM)."""
    first, count, seed = job
    data = {metric: series(count, metric, seed + first) for metric in METRICS}
    started = time.perf_counter()
    zscore = cusum = 0
    for metric, values in data.items():
        result = sweep(values, _window(metric), direction=METRICS[metric][4], dtype=np.float32)
        zscore += int(result.zscore.sum())
        cusum += int(result.cusum.sum())
    return time.perf_counter() - started, zscore, cusum


def in_memory(patients: int, seed: int = 1, processes: int | None = None) -> dict[str, Any]:
    """Sweep N patients x 90 days x 4 metrics; the wall time covers the sweeps in all processes."""
    workers = processes or os.cpu_count() or 1
    share = -(-patients // workers)
    jobs = [(first, min(share, patients - first), seed) for first in range(0, patients, share)]
    started = time.perf_counter()
    with ProcessPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(_sweep_part, job) for job in jobs]
        parts = [future.result() for future in futures]
    evaluations = patients * len(METRICS) * (DAYS - BaselineWindow().monitor_days + 1)
    sweep_s = max(part[0] for part in parts)
    return {
        "patients": patients,
        "days": DAYS,
        "metrics": len(METRICS),
        "processes": len(jobs),
        "sweep_s": round(sweep_s, 2),
        "wall_s_including_generation": round(time.perf_counter() - started, 2),
        "evaluations": evaluations,
        "evaluations_per_s": round(evaluations / sweep_s),
        "zscore_triggers": sum(part[1] for part in parts),
        "cusum_triggers": sum(part[2] for part in parts),
    }


def _readings(patient: uuid.UUID, index: int, start: datetime, seed: int) -> list[tuple[Any, ...]]:
    rows = []
    daily = {metric: series(1, metric, seed * 100_003 + index)[0] for metric in METRICS}
    for day in range(DAYS):
        for metric, values in daily.items():
            for hour in (7,) if metric == "body.weight" else (8, 20):
                value = float(values[day])
                if np.isnan(value):
                    continue
                at = start + timedelta(days=day, hours=hour)
                rows.append((patient, metric, value + (0.0 if hour == 7 else hour / 40), UNITS[metric], at))
    return rows


def _populate(runtime_url: str, patients: int, seed: int, now: datetime) -> list[uuid.UUID]:
    start = (now - timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    ids: list[uuid.UUID] = []
    with psycopg.connect(runtime_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO municipalities (kommunenummer, name) VALUES ('0301', 'Bench') RETURNING id"
        ).fetchone()
        assert row is not None
        municipality = row[0]
        gateway, epoch, device = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        seq = 0
        for index in range(patients):
            found = conn.execute(
                "INSERT INTO patients (municipality_id, display_name, lifecycle) VALUES (%s, %s, 'active') "
                "RETURNING id",
                (municipality, f"Pasient {index}"),
            ).fetchone()
            assert found is not None
            ids.append(found[0])
        conn.execute(
            "INSERT INTO patient_protocols (patient_id, protocols) SELECT unnest(%s::uuid[]), '{heart_failure}'",
            (ids,),
        )
        with conn.cursor().copy(
            "COPY observations (gateway_id, outbox_epoch, seq, device_id, patient_id, metric, value, unit, t, "
            "measured_at, received_at) FROM STDIN"
        ) as copy:
            for index, patient in enumerate(ids):
                for patient_id, metric, value, unit, at in _readings(patient, index, start, seed):
                    seq += 1
                    copy.write_row((gateway, epoch, seq, device, patient_id, metric, value, unit, at, at, at))
        conn.execute("ANALYZE observations")
    return ids


def _backends_cpu(runtime_url: str, since: dict[int, float] | float | None = None) -> Any:
    """CPU seconds used so far by each server process of the benchmark's database (read from /proc, so only
    for a server on this machine; None elsewhere); with `since`, the seconds used after that reading."""
    with psycopg.connect(runtime_url, autocommit=True) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()]  # fmt: skip
    used: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    if not isinstance(since, dict):
        return used
    return sum(seconds - since.get(pid, 0.0) for pid, seconds in used.items())


async def _evaluate_all(runtime_url: str, ids: Sequence[uuid.UUID]) -> dict[str, Any]:
    from cloud.db.pool import make_pool
    from cloud.evaluation.baselines import propose_due
    from cloud.evaluation.runner import EvaluationRunner

    pool = make_pool(runtime_url, min_size=1, max_size=4, timeout_s=30)
    await pool.open()
    try:
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO pending_evaluations (patient_id, metric) SELECT p, m FROM unnest(%s::uuid[]) p, "
                "unnest(%s::text[]) m",
                (list(ids), [*METRICS, None]),
            )
        database_cpu = _backends_cpu(runtime_url)
        started, cpu = time.perf_counter(), time.process_time()
        evaluated = await EvaluationRunner(pool).drain()
        evaluate_s, cpu = time.perf_counter() - started, time.process_time() - cpu
        database_cpu = _backends_cpu(runtime_url, since=database_cpu)
        started = time.perf_counter()
        proposals = await propose_due(pool, trial_days=28)
        propose_s = time.perf_counter() - started
    finally:
        await pool.close()
    return {
        "evaluate_s": round(evaluate_s, 2),
        "patients_evaluated": evaluated,
        "patient_evaluations_per_s": round(evaluated / evaluate_s, 1),
        "evaluate_cpu_ms_per_patient": round(1000 * cpu / evaluated, 2),
        "database_cpu_ms_per_patient": None if database_cpu is None else round(1000 * database_cpu / evaluated, 2),
        "propose_s": round(propose_s, 2),
        "proposals": proposals,
        "proposals_per_s": round(proposals / propose_s, 1) if proposals else 0.0,
    }


def _sql_sweep(runtime_url: str, ids: Sequence[uuid.UUID], now: datetime) -> dict[str, Any]:
    """Daily medians of every patient and metric from SQL (Oslo calendar days), swept in memory."""
    index = {patient: i for i, patient in enumerate(ids)}
    first_day = (now - timedelta(days=DAYS)).date()
    started = time.perf_counter()
    arrays = {metric: np.full((len(ids), DAYS + 1), np.nan, dtype=np.float32) for metric in METRICS}
    with psycopg.connect(runtime_url) as conn:
        rows = conn.execute(
            "SELECT patient_id, metric, (date_trunc('day', t, 'Europe/Oslo') AT TIME ZONE 'Europe/Oslo')::date, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY value) FROM observations WHERE patient_id = ANY(%s) "
            "AND metric = ANY(%s) AND t > %s GROUP BY 1, 2, 3",
            (list(ids), list(METRICS), now - timedelta(days=DAYS + 1)),
        ).fetchall()
    for patient, metric, day, value in rows:
        column = (day - first_day).days
        if 0 <= column <= DAYS:
            arrays[metric][index[patient], column] = value
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    triggers = 0
    for metric, values in arrays.items():
        result = sweep(values, _window(metric), direction=METRICS[metric][4], dtype=np.float32)
        triggers += int(result.zscore.sum() + result.cusum.sum())
    return {"sql_read_s": round(read_s, 2), "sql_rows": len(rows), "sweep_s": round(time.perf_counter() - started, 3),
            "triggers": triggers}  # fmt: skip


def database(patients: int, admin_url: str | None, seed: int = 1) -> dict[str, Any]:
    """The database-backed measurements on a throwaway database."""
    from tryggheim.bench._database import bench_database

    now = datetime.now(UTC)
    with bench_database(admin_url) as roles:
        started = time.perf_counter()
        ids = _populate(roles.runtime_url, patients, seed, now)
        load_s = time.perf_counter() - started
        evaluation = asyncio.run(_evaluate_all(roles.runtime_url, ids))
        swept = _sql_sweep(roles.runtime_url, ids, now)
    return {"patients": patients, "load_s": round(load_s, 1), **evaluation, "sql_sweep": swept}


def run(patients: int, db_patients: int, admin_url: str | None, seed: int = 1) -> dict[str, Any]:
    """Both measurements and the machine, as one JSON-able object."""
    result: dict[str, Any] = {"benchmark": "detection", "in_memory": in_memory(patients, seed)}
    if db_patients:
        result["database"] = database(db_patients, admin_url, seed)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    return result
