"""Turning start-up failures into one stderr line and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

from pydantic import ValidationError

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit with status 2 (a usage or configuration error)."""
    print(f"tryggheim: {message}", file=sys.stderr)
    raise SystemExit(2)


def load_settings(factory: Callable[[], T]) -> T:
    """Build a settings object; a bad value exits 2 with `TRYGGHEIM_X: cause`."""
    from cloud.config import settings_error_line

    try:
        return factory()
    except ValidationError as exc:
        fail(settings_error_line(exc))
