"""`tryggheim cloud ...`"""

from __future__ import annotations

import typer

from cloud.config import CloudSettings
from tryggheim.commands._startup import fail, load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.callback()
def cloud() -> None:
    """The cloud service."""


@app.command()
def serve() -> None:
    """Serve the API. Configuration from TRYGGHEIM_* variables (docs/operations.md)."""
    # Settings first: a mistyped variable is reported before the application's imports, which take about
    # two seconds (SQLAlchemy and Alembic for the schema check most of it).
    settings = load_settings(CloudSettings)
    from cloud.runtime import StartupError
    from cloud.serve import serve as run

    try:
        run(settings, on_started=lambda url: print(url, flush=True))
    except StartupError as exc:
        fail(str(exc))
