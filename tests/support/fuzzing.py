"""Reusable schemathesis checks for API fuzzing."""

from __future__ import annotations

from typing import Any


def no_foreign_marker(marker: str) -> Any:
    """A schemathesis check failing when a response body contains `marker` (another tenant's marker string,
    see tests/support/tenants.py): pass it in `checks=[...]` of `case.call_and_validate`."""

    def check(ctx: Any, response: Any, case: Any) -> None:
        body = response.content.decode("utf-8", errors="replace")
        if marker in body:
            raise AssertionError(f"{case.method} {case.formatted_path} answered with a foreign marker ({marker})")

    check.__name__ = f"no_foreign_marker_{marker}"
    return check
