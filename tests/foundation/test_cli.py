"""The command line: groups, settings errors, exit codes."""

from __future__ import annotations

import re
import time

from common.ports import free_port
from tests.support.proc import env_with, run_cli
from tryggheim.cli import GROUPS


def test_help_lists_only_working_groups() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    listed = set(re.findall(r"^\W*(\w+) {2,}\S", result.stdout.split("Commands")[1], flags=re.MULTILINE))
    assert listed == set(GROUPS) >= {"demo", "cloud", "db"}


def test_db_group_lists_upgrade_and_status() -> None:
    result = run_cli("db", "--help")
    assert result.returncode == 0
    assert "upgrade" in result.stdout and "status" in result.stdout


def _assert_one_line_failure(result_stderr: str, variable: str) -> None:
    lines = [line for line in result_stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result_stderr
    assert variable in lines[0]
    assert "Traceback" not in result_stderr


def test_serve_malformed_url_exits_2_with_one_line() -> None:
    started = time.monotonic()
    result = run_cli("cloud", "serve", env=env_with(TRYGGHEIM_DATABASE_URL="mysql://x@y/z"))
    assert result.returncode == 2
    assert time.monotonic() - started < 10
    _assert_one_line_failure(result.stderr, "TRYGGHEIM_DATABASE_URL")
    assert "scheme" in result.stderr


def test_serve_url_without_database_name_is_rejected() -> None:
    result = run_cli("cloud", "serve", env=env_with(TRYGGHEIM_DATABASE_URL="postgresql://u@127.0.0.1:5432"))
    assert result.returncode == 2
    _assert_one_line_failure(result.stderr, "TRYGGHEIM_DATABASE_URL")


def test_serve_unreachable_database_exits_2_at_once_without_retrying() -> None:
    port = free_port()  # nothing listens there: the connection is refused at once
    started = time.monotonic()
    result = run_cli(
        "cloud",
        "serve",
        env=env_with(TRYGGHEIM_DATABASE_URL=f"postgresql://app:pw@127.0.0.1:{port}/tryggheim"),
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    # What this guards is a retry loop (the pool's reconnect cycle would never give up); the time is the
    # service's imports, about 3 s on an idle machine and over 10 s on a loaded one, so the bound is generous.
    assert elapsed < 30, elapsed
    _assert_one_line_failure(result.stderr, "TRYGGHEIM_DATABASE_URL")
    assert f"127.0.0.1:{port}" in result.stderr


def test_bad_port_setting_names_the_variable() -> None:
    result = run_cli("cloud", "serve", env=env_with(TRYGGHEIM_PORT="eighty"))
    assert result.returncode == 2
    _assert_one_line_failure(result.stderr, "TRYGGHEIM_PORT")


def test_a_trusted_proxy_that_is_not_an_address_names_the_variable() -> None:
    result = run_cli("cloud", "serve", env=env_with(TRYGGHEIM_TRUSTED_PROXIES="10.0.0.0/8, proxy.local"))
    assert result.returncode == 2
    _assert_one_line_failure(result.stderr, "TRYGGHEIM_TRUSTED_PROXIES")
    assert "proxy.local" in result.stderr
