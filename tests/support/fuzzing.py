"""What the schemathesis runs share: the operations of the running service, the hypothesis settings for a
live server, and checks beyond "no server error"."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckContext, CheckFunction, Response
from schemathesis.schemas import APIOperation


def api_operations(server: str, *, exclude_path: str | None = None, **include: Any) -> list[APIOperation]:
    """The operations of the service's own OpenAPI document at `server` that the schemathesis filters in
    `include` select, less the path `exclude_path`."""
    api = schemathesis.openapi.from_url(f"{server}/openapi.json").include(**include)
    if exclude_path is not None:
        api = api.exclude(path=exclude_path)
    return [result.ok() for result in api.get_all_operations()]


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings for a run against the live service: no deadline and no health checks (every example
    is an HTTP request to a real database, far slower than hypothesis expects) and no example database."""
    return settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)


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
