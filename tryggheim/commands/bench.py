"""`tryggheim bench ...`: benchmarks that print one JSON line each."""

from __future__ import annotations

import json
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)
# Every benchmark's database option.
AdminUrl = Annotated[str | None, typer.Option(help="Superuser URL of a PostgreSQL to use; default: a private one.")]


@app.callback()
def bench() -> None:
    """Benchmarks (each prints one JSON line; figures go into docs/benchmarks.md)."""


@app.command()
def audit(
    admin_url: AdminUrl = None,
    writes: Annotated[int, typer.Option(min=100, max=1_000_000)] = 2000,
) -> None:
    """Cost of the audit hash chain per audited request."""
    from tryggheim.bench.audit import main

    main(admin_url, writes)


@app.command()
def ingest(
    mode: Annotated[str, typer.Option(help="bulk (1,000 readings per batch) or realistic (1,000+ gateways).")] = "bulk",
    admin_url: AdminUrl = None,
    detection: Annotated[
        bool, typer.Option(help="Run the services' evaluation workers (detection) while ingesting.")
    ] = True,
    ingest_writers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Ingest writers per service process; default: the setting's.")
    ] = None,
) -> None:
    """Ingest throughput through the HTTP endpoint against raw COPY on the same database."""
    from tryggheim.bench.ingest import run

    if mode not in {"bulk", "realistic"}:
        raise typer.BadParameter("use bulk or realistic", param_hint="--mode")
    print(json.dumps(run(mode, admin_url, detection=detection, ingest_writers=ingest_writers)))


@app.command(name="ingest-paced")
def ingest_paced(
    admin_url: AdminUrl = None,
    rate: Annotated[
        list[float] | None,
        typer.Option(min=1, max=100_000, help="Uploads a second to offer (repeat for several; lowest first)."),
    ] = None,
    seconds: Annotated[float, typer.Option(min=1, max=600, help="How long each rate is offered.")] = 8.0,
    detection: Annotated[bool, typer.Option(help="Run the service's evaluation worker while ingesting.")] = True,
) -> None:
    """Upload times at set arrival rates (an open loop), realistic batches, one service process."""
    from tryggheim.bench.ingest_paced import DEFAULT_RATES, run

    print(json.dumps(run(admin_url, tuple(rate) if rate else DEFAULT_RATES, seconds, detection=detection)))


@app.command(name="ingest-cpu")
def ingest_cpu(
    admin_url: AdminUrl = None,
    batches: Annotated[
        int, typer.Option(min=10, max=100_000, help="1,000-reading batches (10 times as many of 10).")
    ] = 300,
) -> None:
    """The service's CPU, wall and garbage-collection time per ingest batch, in process."""
    from tryggheim.bench.ingest_cpu import run

    print(json.dumps(run(admin_url, batches)))


@app.command(name="ingest-store")
def ingest_store(
    admin_url: AdminUrl = None,
    gateways: Annotated[int, typer.Option(min=2, max=10_000, help="Gateways enrolled (one batch each a round).")] = 300,
    group_batches: Annotated[int, typer.Option(min=1, max=64, help="Batches per group (transaction).")] = 3,
    rounds: Annotated[int, typer.Option(min=1, max=100, help="Rounds over all gateways that are timed.")] = 4,
) -> None:
    """The ingest transaction alone: service and database CPU and wall time per group of small batches."""
    from tryggheim.bench.ingest_store import run

    print(json.dumps(run(admin_url, gateways, group_batches, rounds)))


@app.command()
def edge(
    admin_url: AdminUrl = None,
    settle_seconds: Annotated[
        float, typer.Option(min=1, max=600, help="How long each measured agent works before its memory is read.")
    ] = 12.0,
    starts: Annotated[int, typer.Option(min=1, max=50, help="Agent starts timed for the median start-up.")] = 5,
) -> None:
    """Alarm latency from press to cloud commit, durable outbox writes, and the agent's start-up and memory with
    the simulator and with every source; one JSON line per agent configuration."""
    from tryggheim.bench.edge import Plan, main

    main(admin_url, Plan(settle_seconds, starts))


@app.command()
def detection(
    patients: Annotated[int, typer.Option(min=100, max=1_000_000, help="Patients in the in-memory sweep.")] = 100_000,
    db_patients: Annotated[
        int, typer.Option(min=0, max=100_000, help="Patients in the database-backed sweep (0: skip it).")
    ] = 1000,
    admin_url: AdminUrl = None,
) -> None:
    """Baseline detectors over N patients x 90 days x 4 metrics in memory, and a database-backed sweep."""
    from tryggheim.bench.detection import run

    print(json.dumps(run(patients, db_patients, admin_url)))


@app.command()
def scenarios(
    first_seed: Annotated[int, typer.Option(min=0, help="First seed (the reported figures use 100-199).")] = 100,
    seeds: Annotated[int, typer.Option(min=1, max=1000, help="How many seeds (4 patients each).")] = 100,
    processes: Annotated[int, typer.Option(min=1, max=64)] = 2,
) -> None:
    """The detection scenario suite: per protocol and rule, sensitivity, delay and false alerts (one JSON line)."""
    from tryggheim.bench.scenarios import suite

    seed_range = range(first_seed, first_seed + seeds)
    result = {"benchmark": "scenarios", "seeds": [seed_range.start, seed_range.stop - 1]}
    print(json.dumps({**result, **suite(seed_range, processes=processes)}))


@app.command()
def ui(
    patients: Annotated[int, typer.Option(min=1, max=10_000, help="Patients with open alerts.")] = 200,
    alerts: Annotated[int, typer.Option(min=2, help="Open alerts over them (2 or 3 per patient).")] = 500,
    days: Annotated[int, typer.Option(min=1, max=400, help="Days of readings of the patient page's patient.")] = 90,
    renders: Annotated[int, typer.Option(min=1, max=10_000, help="Timed fetches of each page.")] = 50,
    trials: Annotated[int, typer.Option(min=0, max=100, help="Alarm presses timed into the open worklist.")] = 5,
    page: Annotated[
        list[str] | None, typer.Option(help="Measure this page only (repeatable; default: every page).")
    ] = None,
    admin_url: AdminUrl = None,
) -> None:
    """Server time to render the worklist and the patient page (p50/p99), and a new alert's time into a browser."""
    from tryggheim.bench.ui import PAGES, BenchmarkError, run
    from tryggheim.commands._startup import fail

    names = [name for name, _ in PAGES]
    if not 2 * patients <= alerts <= 3 * patients:
        raise typer.BadParameter(
            f"give 2 to 3 alerts per patient: {2 * patients}-{3 * patients}", param_hint="--alerts"
        )
    if unknown := sorted(set(page or []) - set(names)):
        raise typer.BadParameter(f"{', '.join(unknown)}: not one of {', '.join(names)}", param_hint="--page")
    try:
        figures = run(admin_url, patients=patients, alerts=alerts, days=days, renders=renders, trials=trials,
                      pages=page or names)  # fmt: skip
    except BenchmarkError as exc:
        fail(str(exc))
    print(json.dumps(figures))


@app.command()
def alarm(
    events: Annotated[
        int, typer.Option(min=1, max=100_000, help="Alarm presses to time (>= 500 for the figures).")
    ] = 500,
    patients: Annotated[int, typer.Option(min=1, max=1000, help="Patients pressing, one press each per round.")] = 50,
    admin_url: AdminUrl = None,
) -> None:
    """A safety alarm from the gateway's POST to a real webhook receiver and SMTP server, two service processes."""
    from tryggheim.bench.alarm import run

    print(json.dumps(run(admin_url, events=events, patients=patients)))


@app.command()
def scale(
    admin_url: AdminUrl = None,
    processes: Annotated[int, typer.Option(min=1, max=16, help="Measure 1 up to this many processes.")] = 3,
    gateways: Annotated[int, typer.Option(min=1, max=100_000, help="Gateways enrolled for each count.")] = 300,
    rounds: Annotated[int, typer.Option(min=1, max=1000, help="Batches (1-20 readings) per gateway.")] = 10,
) -> None:
    """Ingest throughput with 1, 2 and 3 `cloud serve` processes on one database, and the core count (asserts
    nothing: with fewer cores than processes, more processes are not expected to add throughput)."""
    from tryggheim.bench.scale import run

    print(json.dumps(run(admin_url, processes=processes, gateways=gateways, rounds=rounds)))
