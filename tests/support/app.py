"""The real application on a test database, driven in-process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.config import CloudSettings
from cloud.db.pool import make_pool


@contextmanager
def app_client(
    runtime_url: str,
    *,
    auth_mode: str = "local",
    pool_max: int = 4,
    evaluation: bool = True,
    escalation: bool = True,
    interop: bool = False,
    **settings_values: Any,
) -> Iterator[TestClient]:
    """A started application (lifespan run, pool open) connected as the runtime role; `settings_values` are
    further settings (for example the identity providers). The interoperability worker runs only when a test
    asks for it (`interop=True`): the others configure no VKP or PMD client, and need no worker polling."""
    settings = CloudSettings(
        database_url=runtime_url,
        auth_mode=auth_mode,  # type: ignore[arg-type]
        cookie_secure=False,
        evaluation=evaluation,
        escalation=escalation,
        interop=interop,
        **settings_values,
    )
    pool = make_pool(runtime_url, min_size=1, max_size=pool_max, timeout_s=5)
    with TestClient(create_app(pool, settings)) as client:
        yield client
