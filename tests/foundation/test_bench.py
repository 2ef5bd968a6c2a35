"""Benchmarks run from the installed package and print one JSON line."""

from __future__ import annotations

import json

import pytest

from tests.support.proc import run_cli


@pytest.mark.slow
def test_audit_benchmark_prints_one_json_line(pg_admin_url: str) -> None:
    result = run_cli("bench", "audit", "--admin-url", pg_admin_url, "--writes", "100", timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["benchmark"] == "audit_chain"
    assert figures["chained_write_p50_ms"] > 0


@pytest.mark.slow
def test_edge_benchmark_prints_one_json_line(pg_admin_url: str) -> None:
    result = run_cli("bench", "edge", "--admin-url", pg_admin_url, timeout=180)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip())
    assert figures["alarm_presses"] == 200
    assert 0 < figures["alarm_p50_ms"] <= figures["alarm_p99_ms"]
    assert figures["rss_mb"] > 0 and figures["outbox_writes_per_s"] > 0
