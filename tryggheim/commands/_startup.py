"""Turning start-up failures into one stderr line and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
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
