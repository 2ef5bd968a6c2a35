"""Every asynchronous connection is made by cloud/db/pool.py: a scan of every module's text.

The batched statements (cloud/db/batch.py) must be a connection's only prepared ones, so a connection made with
psycopg's defaults would, after its first rollback, fail every batch; `run_batch` refuses one, but only on a path
that reaches it. This scan catches the connection where it is made, whatever path uses it.
"""

from __future__ import annotations

import re
from pathlib import Path

import cloud

ROOT = Path(cloud.__file__).parent.parent
POOL = ROOT / "cloud" / "db" / "pool.py"
PACKAGES = ("cloud", "tryggheim", "tests", "alerts", "edge", "common", "device_profiles")
MAKES = re.compile(r"\bAsyncConnection\.connect\(|\bAsyncConnectionPool\(")


def makes_connections(path: Path) -> bool:
    """Whether a module's text opens an asynchronous connection or pool itself."""
    return MAKES.search(path.read_text(encoding="utf-8")) is not None


def test_only_the_pool_module_makes_asynchronous_connections() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path not in (POOL, Path(__file__)) and makes_connections(path)
    ]
    assert offenders == [], "connect with cloud.db.pool.connect or make_pool"


def test_the_scan_sees_the_pool_module_make_them() -> None:
    # The positive control: were the pattern wrong, the test above would pass for nothing.
    assert makes_connections(POOL)
