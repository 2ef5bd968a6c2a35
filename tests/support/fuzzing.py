"""Checks for schemathesis runs beyond "no server error"."""

from __future__ import annotations

from typing import Any

from schemathesis import Case, CheckContext, CheckFunction, Response


def no_foreign_marker(marker: str) -> CheckFunction:
    """A schemathesis check that fails when `marker` (another municipality's marker string) appears in a
    response body, however it is encoded there."""
    needle = marker.encode()

    def no_foreign_data(ctx: CheckContext, response: Response, case: Case) -> Any:
        if needle in response.content:
            raise AssertionError(
                f"{case.method} {case.formatted_path} answered with another municipality's marker {marker!r}"
            )
        return None

    return no_foreign_data
