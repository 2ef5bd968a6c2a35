"""The query tests of tests/query once more, on TimescaleDB, every chunk compressed.

The same history as tests/query (both 2026 DST changes, ties in June, the newest values) is sent into a
database on the TimescaleDB server; then every chunk of `observations` is compressed with `compress_chunk`, so
the re-run tests read only compressed chunks and check the answers against what was sent, as they do on plain
PostgreSQL. One test also compares the answers from before the compression with those after it.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from cloud.access.roles import Role
from tests.query.conftest import History, build_history
from tests.query.test_query_input import (  # noqa: F401 (collected here: run against this module's fixtures)
    test_a_cursor_only_continues_its_own_query,
    test_a_hand_made_cursor_far_in_time_is_refused,
    test_each_series_read_is_audited,
    test_series_are_scoped_to_the_callers_patients,
)
from tests.query.test_series import (  # noqa: F401 (collected here: run against this module's fixtures)
    test_daily_buckets_follow_oslo_calendar_days_across_both_dst_changes,
    test_latest_value_per_metric,
    test_partial_buckets_are_marked,
    test_raw_pages_never_skip_or_repeat_a_row,
    test_raw_rows_carry_all_three_times,
    test_subdaily_buckets_are_fixed_lengths_across_a_dst_change,
)
from tests.support.fixtures import app_fixtures
from tests.support.kits import enrol_kit
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

pytestmark = pytest.mark.xdist_group("timescaledb")

query_db, tenants, client = app_fixtures("query_db", evaluation=False)


def _answers(client: TestClient, tenants: Tenants) -> dict[str, Any]:
    """Raw rows of June, a year of daily buckets and the newest values of municipality A's patient."""
    base = f"/api/v1/patients/{tenants.a.patients['nord']}"
    nurse = tenants.a.auth(Role.NURSE)
    asks = {
        "raw": (f"{base}/series/heart_rate", {"from": "2026-06-01T00:00:00Z", "to": "2026-07-01T00:00:00Z"}),
        "daily": (
            f"{base}/series/heart_rate/buckets",
            {"from": "2026-01-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "bucket": "1d"},
        ),
        "latest": (f"{base}/latest", {}),
    }
    found = {}
    for name, (url, params) in asks.items():
        response = client.get(url, params={**params, "limit": 5000} if params else {}, headers=nurse)
        assert response.status_code == 200, response.text
        found[name] = response.json()
    return found


def _chunks(owner_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(owner_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT chunk_name, is_compressed FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'observations'"
        ).fetchall()


@pytest.fixture(scope="module")
def before_compression() -> dict[str, Any]:
    """The answers `history` saw before it compressed the chunks."""
    return {}


@pytest.fixture(scope="module")
def history(
    client: TestClient, query_db: TestDatabase, tenants: Tenants, before_compression: dict[str, Any]
) -> History:
    """tests/query's history (B's patient shifted by 100), then every chunk compressed."""
    url = query_db.runtime_url
    kit_b = enrol_kit(client, url, tenants.b.municipality_id, tenants.b.patients["nord"])
    build_history(client, url, kit_b, 100.0)
    kit_a = enrol_kit(client, url, tenants.a.municipality_id, tenants.a.patients["nord"])
    found = build_history(client, url, kit_a, 0.0)
    before_compression.update(_answers(client, tenants))
    with psycopg.connect(query_db.owner_url) as conn:
        conn.execute("SELECT compress_chunk(c) FROM show_chunks('observations') AS c")
    return found


def test_compressed_chunks_answer_as_before(
    client: TestClient, tenants: Tenants, history: History, query_db: TestDatabase, before_compression: dict[str, Any]
) -> None:
    chunks = _chunks(query_db.owner_url)
    assert len(chunks) >= 4  # 7-day chunks: the history lies in late March, June, late October and November
    assert all(chunk["is_compressed"] for chunk in chunks)
    after = _answers(client, tenants)
    assert after == before_compression
    assert len(after["raw"]["items"]) == len(history.june)  # the raw rows are there, not an empty page twice
