"""A throwaway migrated database for a benchmark: on a private PostgreSQL unless a URL is given."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloud.db import migrate
from cloud.db.embedded import EmbeddedPostgres
from cloud.db.provision import Provisioned, drop, provision


@contextmanager
def bench_database(admin_url: str | None = None) -> Iterator[Provisioned]:
    """Provision and migrate a database named `bench_<random>`; drop it (and any private server) after."""
    root: Path | None = None
    server: EmbeddedPostgres | None = None
    if admin_url is None:
        root = Path(tempfile.mkdtemp(prefix="tryggheim-bench-", dir="/tmp"))
        root.chmod(0o755)  # the unprivileged database user must reach the data directory
        server = EmbeddedPostgres(root / "pg")
        admin_url = server.start()
    name = f"bench_{secrets.token_hex(4)}"
    roles = provision(admin_url, database=name, owner_role=f"{name}_owner", runtime_role=f"{name}_app")
    try:
        migrate.upgrade(roles.owner_url, runtime_role=roles.runtime_role)
        yield roles
    finally:
        drop(admin_url, database=name, roles=[roles.owner_role, roles.runtime_role])
        if server is not None:
            server.stop()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
