"""TimescaleDB for tests: where it is installed, the private servers that run it, and when its tests run.

`make timescaledb` (part of `make test`) builds the extension as root and installs it into PostgreSQL 15's
folders; it never touches a running server's configuration. Only the private servers started here preload it.
`TRYGGHEIM_TEST_TIMESCALEDB_BINDIR` names another PostgreSQL 15 `bin` folder with the extension installed (a
staged copy, for trying a build without installing it into the machine's PostgreSQL).

When the extension is missing, the tests in tests/timescaledb cannot run:
- not root: `make timescaledb` could not have built it, so they are deselected, with one line in the summary
  (deselected, not skipped: under CI=true a skip fails the run, and a non-root CI machine cannot build it);
- root: the set-up should have built it, so under CI=true they fail; elsewhere they skip, naming the command.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest

from cloud.db.embedded import EmbeddedPostgres
from tests.support.services import killable_postgres

BINDIR_VARIABLE = "TRYGGHEIM_TEST_TIMESCALEDB_BINDIR"
# The PostgreSQL version the set-up builds TimescaleDB for (Makefile, PG15_CONFIG): Debian 12's.
PG15_BINDIR = Path("/usr/lib/postgresql/15/bin")
PRELOAD = {"shared_preload_libraries": "timescaledb", "timescaledb.telemetry_level": "off"}
_OUR_DIR = Path(__file__).resolve().parent.parent / "timescaledb"
_MISSING = "TimescaleDB is not installed for PostgreSQL 15: `make timescaledb` builds it (as root)"


def bindir() -> Path:
    """The PostgreSQL 15 `bin` folder whose installation has (or should have) the extension."""
    return Path(os.environ.get(BINDIR_VARIABLE) or PG15_BINDIR)


@cache
def installed() -> bool:
    """Whether the extension's library and control file are in that installation's folders."""
    pg_config = bindir() / "pg_config"
    if not pg_config.is_file():
        return False
    result = subprocess.run([str(pg_config), "--pkglibdir", "--sharedir"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return False
    libdir, sharedir = (Path(line) for line in result.stdout.split())
    return (libdir / "timescaledb.so").is_file() and (sharedir / "extension" / "timescaledb.control").is_file()


def require_installed() -> None:
    """Fail under CI=true (as root the set-up must have built it), else skip, when the extension is missing."""
    if installed():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{_MISSING}; under CI=true the set-up must have done so", pytrace=False)
    pytest.skip(_MISSING)


@contextmanager
def private_server(*, preload: bool) -> Iterator[EmbeddedPostgres]:
    """A private PostgreSQL 15 of that installation, preloading TimescaleDB or not."""
    require_installed()
    with killable_postgres("trgt-tsdb-", bindir=bindir(), settings=PRELOAD if preload else None) as server:
        yield server


def _ours(item: pytest.Item) -> bool:
    return _OUR_DIR in item.path.parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the TimescaleDB tests when the extension is missing and we are not root (see above)."""
    if os.geteuid() == 0 or installed():
        return
    left_out = [item for item in items if _ours(item)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not _ours(item)]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The one line that says the TimescaleDB tests were left out, and why."""
    if os.geteuid() != 0 and not installed():
        terminalreporter.write_line(f"tests/timescaledb deselected: {_MISSING}, and this is not root", yellow=True)
