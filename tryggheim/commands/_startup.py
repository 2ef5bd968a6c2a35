"""Turning start-up failures into one stderr line and exit status 2, and finding the database of a running demo
by its state directory."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from pydantic import ValidationError

T = TypeVar("T")
ADMIN_DATABASE = "admin commands work on the service's database"  # why the admin commands need the URL


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit with status 2 (a usage or configuration error)."""
    print(f"tryggheim: {message}", file=sys.stderr)
    raise SystemExit(2)


def load_settings(factory: Callable[[], T]) -> T:
    """Build a settings object; a bad value or a missing secret file exits 2 with `TRYGGHEIM_X: cause`."""
    from cloud.config import settings_error_line
    from cloud.secret_files import SecretFileError

    try:
        return factory()
    except ValidationError as exc:
        fail(settings_error_line(exc))
    except SecretFileError as exc:
        fail(str(exc))


def required(value: str | None, variable: str, why: str) -> str:
    """`value`, or exit 2 naming the unset variable and what it is needed for."""
    if not value:
        fail(f"{variable}: not set; {why}")
    return value


def reachable(url: str, variable: str, timeout_s: float) -> str:
    """`url` once the database there answers; else exit 2 with the variable and the cause."""
    from cloud.runtime import StartupError, check_reachable

    try:
        check_reachable(url, variable, timeout_s)
    except StartupError as exc:
        fail(str(exc))
    return url


DEMO_STATE_DIR = Path(".state/demo")  # where `tryggheim demo` keeps its state unless told otherwise
STATE_DIR_HELP = (
    "State directory of a running `tryggheim demo` (default when no database URL is set: .state/demo if a demo "
    "runs there); its embedded database is used."
)


def use_state_dir(state_dir: Path | None) -> None:
    """Point this command at the embedded database a running demo keeps in `state_dir` (by setting the database
    URLs for this process). Without `state_dir` and without a configured database URL, the state directory of
    TRYGGHEIM_STATE_DIR or .state/demo is used when a demo runs there, said in one line on stderr."""
    from cloud.runtime import embedded_urls

    if state_dir is None and os.environ.get("TRYGGHEIM_DATABASE_URL"):
        return
    candidate = state_dir or Path(os.environ.get("TRYGGHEIM_STATE_DIR") or DEMO_STATE_DIR)
    urls = embedded_urls(candidate)
    if urls is None:
        if state_dir is not None:
            fail(f"--state-dir {state_dir}: no running embedded database there (start `tryggheim demo` first)")
        return
    os.environ["TRYGGHEIM_DATABASE_URL"], os.environ["TRYGGHEIM_DATABASE_OWNER_URL"] = urls
    if state_dir is None:
        print(f"tryggheim: using the database of the demo running in {candidate}", file=sys.stderr)
