"""`tryggheim bench ...`: benchmarks that print one JSON line each."""

from __future__ import annotations

import json
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.callback()
def bench() -> None:
    """Benchmarks (each prints one JSON line; figures go into docs/benchmarks.md)."""


@app.command()
def audit(
    admin_url: Annotated[
        str | None, typer.Option(help="Superuser URL of a PostgreSQL to use; default: a private one.")
    ] = None,
    writes: Annotated[int, typer.Option(min=100, max=1_000_000)] = 2000,
) -> None:
    """Cost of the audit hash chain per audited request."""
    from tryggheim.bench.audit import main

    main(admin_url, writes)


@app.command()
def ingest(
    mode: Annotated[str, typer.Option(help="bulk (1,000 readings per batch) or realistic (1,000+ gateways).")] = "bulk",
    admin_url: Annotated[
        str | None, typer.Option(help="Superuser URL of a PostgreSQL to use; default: a private one.")
    ] = None,
) -> None:
    """Ingest throughput through the HTTP endpoint against raw COPY on the same database."""
    from tryggheim.bench.ingest import run

    if mode not in {"bulk", "realistic"}:
        raise typer.BadParameter("use bulk or realistic", param_hint="--mode")
    print(json.dumps(run(mode, admin_url)))


@app.command()
def edge(
    admin_url: Annotated[
        str | None, typer.Option(help="Superuser URL of a PostgreSQL to use; default: a private one.")
    ] = None,
) -> None:
    """Alarm latency from press to cloud commit, durable outbox writes, and the agent's memory."""
    from tryggheim.bench.edge import main

    main(admin_url)
