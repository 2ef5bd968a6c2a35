"""Two municipalities, each with a kit whose devices have measured since January 2026: heart rate every
30 minutes over both 2026 DST changes in Europe/Oslo, three devices measuring at the same instants in June
(ties for the pagination order), and a few other metrics for the newest-value view."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.fixtures import app_fixtures
from tests.support.history import old_device, point, send
from tests.support.kits import Kit, enrol_kit
from tests.support.services import TestDatabase
from tests.support.tenants import Tenants

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
# Every 30 minutes from two days before to two days after each change (UTC instants).
SPRING = (datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
AUTUMN = (datetime(2026, 10, 23, tzinfo=UTC), datetime(2026, 10, 27, tzinfo=UTC))
JUNE = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@dataclass
class History:
    """What was sent, for computing expectations independently of the service."""

    kit: Kit
    devices: list[str]
    dst: list[tuple[datetime, float]] = field(default_factory=list)  # heart_rate around both changes
    june: list[tuple[datetime, float, str]] = field(default_factory=list)  # heart_rate with ties
    latest: dict[str, tuple[datetime, Any]] = field(default_factory=dict)


def _half_hours(start: datetime, end: datetime) -> list[datetime]:
    return [start + timedelta(minutes=30 * i) for i in range(int((end - start) / timedelta(minutes=30)))]


def build_history(client: TestClient, url: str, kit: Kit, offset: float) -> History:
    """Send the package's history for `kit` (values shifted by `offset`); returns what was sent."""
    found = History(kit, [old_device(url, kit, "nonin-3230", SINCE) for _ in range(3)])
    first = found.devices[0]
    for i, at in enumerate(_half_hours(*SPRING) + _half_hours(*AUTUMN)):
        found.dst.append((at, 50.0 + (i * 7) % 61 + offset))
    # 40 instants 7 minutes apart, each measured by all three devices (distinct values): ties in t.
    for i in range(120):
        found.june.append((JUNE + timedelta(minutes=7 * (i // 3)), 40.0 + i + offset, found.devices[i % 3]))
    readings = [point(first, "heart_rate", v, "/min", at) for at, v in found.dst]
    readings += [point(device, "heart_rate", v, "/min", at) for at, v, device in found.june]
    november = datetime(2026, 11, 1, 7, tzinfo=UTC)
    extra = [("spo2", 94, "%", november), ("spo2", 97, "%", november + timedelta(days=1)),
             ("consciousness", "A", "1", november + timedelta(days=1, hours=1)),
             ("device.battery", 55, "%", november + timedelta(days=2))]  # fmt: skip
    readings += [point(first, metric, value, unit, at) for metric, value, unit, at in extra]
    reply = send(client, kit, readings)
    assert reply["stored"] == len(readings), reply
    found.latest = {"heart_rate": (found.dst[-1][0], found.dst[-1][1])}
    # Stored values: a labelled state is stored as the index of its level (consciousness "A" is 0).
    found.latest |= {m: (at, 0 if m == "consciousness" else v) for m, v, _, at in extra}
    return found


query_db, tenants, client = app_fixtures("query_db", scope="package", evaluation=False)


@pytest.fixture(scope="package")
def history(client: TestClient, query_db: TestDatabase, tenants: Tenants) -> History:
    """Municipality A's history (patient `nord`); B's patient `nord` gets the same shape, shifted by 100."""
    url = query_db.runtime_url
    kit_b = enrol_kit(client, url, tenants.b.municipality_id, tenants.b.patients["nord"])
    build_history(client, url, kit_b, 100.0)
    kit_a = enrol_kit(client, url, tenants.a.municipality_id, tenants.a.patients["nord"])
    return build_history(client, url, kit_a, 0.0)
