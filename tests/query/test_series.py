"""Series queries: downsampling across both 2026 DST changes, raw keyset pages, the newest values, and the
three timestamps. Expected values are computed here from what was sent, with zoneinfo, not by the service's
SQL."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.access.roles import Role
from common.timefmt import OSLO
from tests.query.conftest import AUTUMN, JUNE, SPRING, History
from tests.support.tenants import Tenants

# Midnight Norwegian standard time, the documented anchor; in UTC, because Python adds timedeltas to an
# Oslo-zoned datetime in wall-clock time, which is exactly the DST error this test looks for.
ORIGIN = datetime(2000, 1, 3, tzinfo=OSLO).astimezone(UTC)

pytestmark = pytest.mark.xdist_group("query")  # one worker builds the package's data once


def _url(tenants: Tenants, slot: str = "nord", tail: str = "series/heart_rate") -> str:
    return f"/api/v1/patients/{tenants.a.patients[slot]}/{tail}"


def _get(client: TestClient, url: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _all_pages(client: TestClient, url: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = _get(client, url, headers, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _local_days(readings: list[tuple[datetime, float]]) -> dict[date, list[float]]:
    days: dict[date, list[float]] = defaultdict(list)
    for at, value in readings:
        days[at.astimezone(OSLO).date()].append(value)
    return days


def test_daily_buckets_follow_oslo_calendar_days_across_both_dst_changes(
    client: TestClient, tenants: Tenants, history: History
) -> None:
    nurse = tenants.a.auth(Role.NURSE)
    for (first, last), change, hours in ((SPRING, date(2026, 3, 29), 23), (AUTUMN, date(2026, 10, 25), 25)):
        start = datetime.combine(first.date() - timedelta(days=1), datetime.min.time(), OSLO)
        end = datetime.combine(last.date() + timedelta(days=1), datetime.min.time(), OSLO)
        sent = [(at, v) for at, v in history.dst if first <= at < last]
        expected = _local_days(sent)
        items = _all_pages(client, _url(tenants, tail="series/heart_rate/buckets"), nurse, bucket="1d",
                           **{"from": start.isoformat(), "to": end.isoformat()}, limit=2)  # fmt: skip
        assert [date.fromisoformat(b["day"]) for b in items] == sorted(expected)
        for bucket in items:
            values = expected[date.fromisoformat(bucket["day"])]
            assert bucket["count"] == len(values)
            assert bucket["min"] == min(values) and bucket["max"] == max(values)
            assert abs(bucket["mean"] - statistics.fmean(values)) < 1e-9
            assert not bucket["partial"]
            assert _at(bucket["start"]) == datetime.combine(
                date.fromisoformat(bucket["day"]), datetime.min.time(), OSLO
            )
        (dst_day,) = [b for b in items if b["day"] == change.isoformat()]
        assert _at(dst_day["end"]) - _at(dst_day["start"]) == timedelta(hours=hours)
        assert dst_day["count"] == 2 * hours  # one reading every 30 minutes of a 23- or 25-hour day


def test_subdaily_buckets_are_fixed_lengths_across_a_dst_change(
    client: TestClient, tenants: Tenants, history: History
) -> None:
    nurse = tenants.a.auth(Role.NURSE)
    start, end = datetime(2026, 10, 24, 20, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC)
    sent = [(at, v) for at, v in history.dst if start <= at < end]
    for bucket, width in (("1h", timedelta(hours=1)), ("6h", timedelta(hours=6)), ("15min", timedelta(minutes=15))):
        expected: dict[datetime, list[float]] = defaultdict(list)
        for at, value in sent:
            expected[ORIGIN + (at - ORIGIN) // width * width].append(value)
        items = _all_pages(client, _url(tenants, tail="series/heart_rate/buckets"), nurse, bucket=bucket,
                           **{"from": start.isoformat(), "to": end.isoformat()}, limit=7)  # fmt: skip
        assert [_at(b["start"]) for b in items] == sorted(expected)
        for item in items:
            values = expected[_at(item["start"])]
            assert (item["count"], item["min"], item["max"]) == (len(values), min(values), max(values))
            assert abs(item["mean"] - statistics.fmean(values)) < 1e-9
            assert _at(item["end"]) - _at(item["start"]) == width
            assert item["day"] is None
    # The 02:00-03:00 hour that happens twice on 25 October is two buckets, not one of two hours.
    hourly = _get(client, _url(tenants, tail="series/heart_rate/buckets"), nurse, bucket="1h",
                  **{"from": "2026-10-25T02:00:00+02:00", "to": "2026-10-25T03:00:00+01:00"})["items"]  # fmt: skip
    assert [b["count"] for b in hourly] == [2, 2]


def test_partial_buckets_are_marked(client: TestClient, tenants: Tenants, history: History) -> None:
    page = _get(client, _url(tenants, tail="series/heart_rate/buckets"), tenants.a.auth(Role.NURSE), bucket="1d",
                **{"from": "2026-03-29T12:00:00+02:00", "to": "2026-03-30T00:00:00+02:00"})  # fmt: skip
    (only,) = page["items"]
    assert only["partial"] and only["day"] == "2026-03-29"
    assert only["count"] == 24  # 12:00 to midnight local, every 30 minutes


def test_raw_rows_carry_all_three_times(client: TestClient, tenants: Tenants, history: History) -> None:
    start, end = SPRING
    items = _all_pages(client, _url(tenants), tenants.a.auth(Role.NURSE),
                       **{"from": start.isoformat(), "to": end.isoformat()}, limit=500)  # fmt: skip
    sent = [(at, v) for at, v in history.dst if start <= at < end]
    assert [(_at(i["t"]), i["value"]) for i in items] == sent
    for item in items:
        assert _at(item["measured_at"]) == _at(item["t"])  # the device clock was sent and is sane
        assert _at(item["received_at"]) > datetime(2026, 11, 1, tzinfo=UTC)  # received now, not in March
        assert _at(item["stored_at"]) >= _at(item["received_at"]) - timedelta(minutes=1)
        assert item["unit"] == "/min" and item["backfilled"] is False
        assert item["device_id"] == str(history.kit.device_ids[history.devices[0]])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(
    limit=st.integers(min_value=2, max_value=60),
    begin=st.integers(min_value=-10, max_value=300),
    span=st.integers(min_value=1, max_value=320),
)
def test_raw_pages_never_skip_or_repeat_a_row(
    client: TestClient, tenants: Tenants, history: History, limit: int, begin: int, span: int
) -> None:
    """Whatever the page size and window, pages concatenate to exactly the readings in [from, to) in one
    stable order, also where three devices share an instant."""
    nurse = tenants.a.auth(Role.NURSE)
    start = JUNE + timedelta(minutes=begin)
    window = {"from": start.isoformat(), "to": (start + timedelta(minutes=span)).isoformat()}
    paged = _all_pages(client, _url(tenants), nurse, **window, limit=limit)
    whole = _get(client, _url(tenants), nurse, **window, limit=10_000)
    assert whole["next_cursor"] is None
    expected = sorted(v for at, v, _ in history.june if start <= at < start + timedelta(minutes=span))
    values = [item["value"] for item in paged]
    assert sorted(values) == expected and len(set(values)) == len(values)
    assert paged == whole["items"]  # the same order whatever the page size
    times = [_at(item["t"]) for item in paged]
    assert times == sorted(times)


def test_latest_value_per_metric(client: TestClient, tenants: Tenants, history: History) -> None:
    nurse = tenants.a.auth(Role.NURSE)
    found = {item["metric"]: item for item in _get(client, _url(tenants, tail="latest"), nurse)}
    assert set(found) == set(history.latest)
    for metric, (at, value) in history.latest.items():
        assert _at(found[metric]["t"]) == at
        assert _at(found[metric]["measured_at"]) == at and found[metric]["stored_at"]
        assert found[metric]["value"] == value
    assert found["spo2"]["value"] == 97  # the newer of two, by clinical time
    assert found["consciousness"]["label"] == "A"
    only = _get(client, _url(tenants, tail="latest"), nurse, metric=["spo2", "body.weight"])
    assert [item["metric"] for item in only] == ["spo2"]  # body.weight has no reading: left out
