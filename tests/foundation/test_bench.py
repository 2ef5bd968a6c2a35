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
def test_edge_benchmark_prints_one_json_line_per_agent_configuration(pg_admin_url: str) -> None:
    result = run_cli("bench", "edge", "--admin-url", pg_admin_url, "--settle-seconds", "8", "--starts", "1",
                     timeout=240)  # fmt: skip
    assert result.returncode == 0, result.stderr
    simulator, every_source = (json.loads(line) for line in result.stdout.strip().splitlines())
    assert simulator["agent"] == "simulator" and every_source["agent"] == "all-sources"
    assert simulator["alarm_presses"] == 200
    assert 0 < simulator["alarm_p50_ms"] <= simulator["alarm_p99_ms"]
    assert simulator["outbox_writes_per_s"] > 0
    for figures in (simulator, every_source):
        assert figures["startup_s"] > 0 and figures["startup_cpu_s"] > 0
        assert 0 < figures["rss_anon_mb"] < figures["rss_mb"] <= figures["rss_peak_mb"]
    assert every_source["devices_heard"] == every_source["devices"] == 5  # every source was live


@pytest.mark.slow
def test_detection_benchmark_prints_one_json_line(pg_admin_url: str) -> None:
    result = run_cli(
        "bench", "detection", "--patients", "400", "--db-patients", "5", "--admin-url", pg_admin_url, timeout=300
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.strip().splitlines()
    figures = json.loads(line)
    memory, database = figures["in_memory"], figures["database"]
    assert memory["evaluations"] == 400 * 4 * 84 and memory["evaluations_per_s"] > 0
    assert memory["zscore_triggers"] > 0 and memory["cusum_triggers"] > 0  # the shifted 5 % are found
    assert database["patients_evaluated"] == 5 and database["proposals"] == 5
    assert database["sql_sweep"]["sql_rows"] > 5 * 4 * 80
    assert figures["machine"]["cpus"] >= 1


@pytest.mark.slow
def test_ingest_cpu_benchmark_prints_one_json_line(pg_admin_url: str) -> None:
    result = run_cli("bench", "ingest-cpu", "--batches", "10", "--admin-url", pg_admin_url, timeout=180)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.strip().splitlines()
    figures = json.loads(line)
    assert figures["benchmark"] == "ingest_cpu" and figures["event_loop"] == "uvloop"
    bulk, small = figures["batch_1000"], figures["batch_10"]
    assert (bulk["batches"], small["batches"]) == (10, 100)
    # A batch of 1,000 readings costs more than one of 10.
    assert bulk["cpu_ms"] > small["cpu_ms"] > 0 and bulk["wall_ms"] > small["wall_ms"] > 0


@pytest.mark.slow
def test_ingest_store_benchmark_prints_one_json_line(pg_admin_url: str) -> None:
    result = run_cli("bench", "ingest-store", "--gateways", "9", "--group-batches", "3", "--rounds", "2",
                     "--admin-url", pg_admin_url, timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.strip().splitlines()
    figures = json.loads(line)
    assert figures["benchmark"] == "ingest_store" and figures["group_batches"] == 3
    assert figures["groups"] == 6  # three groups of three gateways, two timed rounds
    # The server is on this machine, so its backend's CPU is read (whole clock ticks: it may round to 0).
    assert figures["service_cpu_us_per_group"] > 0 and figures["database_cpu_us_per_group"] is not None
    assert figures["wall_us_per_group"] > 0


@pytest.mark.slow
def test_ui_benchmark_prints_one_json_line(pg_admin_url: str) -> None:
    # Every page of the benchmark's table is measured: a page that answers 404 fails the run.
    result = run_cli("bench", "ui", "--patients", "2", "--alerts", "5", "--days", "2", "--renders", "3",
                     "--trials", "1", "--admin-url", pg_admin_url, timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.strip().splitlines()
    figures = json.loads(line)
    assert figures["benchmark"] == "ui" and (figures["patients"], figures["open_alerts"]) == (2, 5)
    # Two days of a scale, a blood-pressure monitor and an oximeter up to an hour ago: 19-26 readings depending
    # on the time of day (the simulator's schedule, counted for every quarter hour of a day), so not "> 20",
    # which failed at 19:15 UTC.
    assert figures["history_readings"] >= 19
    assert set(figures["pages"]) == {"worklist", "patient"}
    for page in figures["pages"].values():
        assert 0 < page["p50_ms"] <= page["p99_ms"] <= page["max_ms"] and page["kb"] > 1, page
    live = figures["alert_in_browser"]
    assert live["trials"] == 1 and 0 < live["p50_ms"] == live["max_ms"] < 15_000, live


@pytest.mark.slow
def test_alarm_benchmark_prints_one_json_line(pg_admin_url: str) -> None:
    # Two service processes, a real webhook receiver and SMTP server; a handful of presses in one round.
    result = run_cli("bench", "alarm", "--events", "4", "--patients", "4", "--admin-url", pg_admin_url, timeout=180)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.strip().splitlines()
    figures = json.loads(line)
    assert (figures["benchmark"], figures["events"], figures["lost"]) == ("alarm", 4, 0)
    assert 0 < figures["alarm_webhook_p50_ms"] <= figures["alarm_webhook_p99_ms"]
    assert figures["alarm_email_p99_ms"] > 0 and figures["cpus"] >= 1
