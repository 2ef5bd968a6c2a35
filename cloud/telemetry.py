"""Prometheus metrics of a cloud process."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

READINGS = Counter("tryggheim_ingest_readings", "Readings received, by outcome", ["outcome"], registry=REGISTRY)
QUARANTINED = Counter(
    "tryggheim_quarantined_readings", "Readings quarantined, by reason", ["reason"], registry=REGISTRY
)
BATCH_SECONDS = Histogram(
    "tryggheim_ingest_batch_seconds",
    "Time to validate and commit one ingest batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
# Group commit (cloud/ingest/writer.py): near 1 on a quiet system, growing with load; a value stuck at the
# writers' limit says the database is the bottleneck.
GROUP_BATCHES = Histogram(
    "tryggheim_ingest_group_batches",
    "Batches stored per ingest transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64),
    registry=REGISTRY,
)
BATCHES = Counter("tryggheim_ingest_batches", "Ingest batches, by HTTP status", ["status"], registry=REGISTRY)
# Refused readings beyond a gateway's hourly quarantine quota: acknowledged and counted, not stored (they are
# also in tryggheim_quarantined_readings{reason="over_quota"}; the bytes say how much storage was spared).
QUARANTINE_OVERFLOW = Counter(
    "tryggheim_quarantine_overflow_readings", "Refused readings over a gateway's hourly quarantine quota",
    registry=REGISTRY,
)  # fmt: skip
QUARANTINE_OVERFLOW_BYTES = Counter(
    "tryggheim_quarantine_overflow_bytes", "Payload bytes of readings over a gateway's hourly quarantine quota",
    registry=REGISTRY,
)  # fmt: skip


class PoolCollector(Collector):
    """Connection-pool usage read at scrape time, as the gauge `name`."""

    def __init__(self, pool: Any, name: str = "tryggheim_db_pool") -> None:
        self._pool = pool
        self._name = name

    def collect(self) -> Any:
        stats = self._pool.get_stats()
        gauge = GaugeMetricFamily(self._name, "Database pool connections", labels=["state"])
        gauge.add_metric(["size"], stats.get("pool_size", 0))
        gauge.add_metric(["available"], stats.get("pool_available", 0))
        gauge.add_metric(["waiting"], stats.get("requests_waiting", 0))
        yield gauge


# Per-alert latency along the chain: device event -> gateway -> cloud commit -> alert opened -> first
# notification -> acknowledged -> on site -> resolved. Each stage is observed (from the previous mark, or from
# the alert's opening for the nurse-side stages) by the process that records the later time.
ALERT_STAGE_SECONDS = Histogram(
    "tryggheim_alert_stage_seconds",
    "Seconds from the earlier mark to this stage of an alert, by stage and event class",
    ["stage", "event_class"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "tryggheim_notifications_rate_limited", "Notifications over a rate limit: suppressed (non-alarm) or "
    "alarm_excess (sent anyway: alarms are never held)", ["channel", "outcome"], registry=REGISTRY,
)  # fmt: skip
NOTIFICATION_ATTEMPTS = Counter(
    "tryggheim_notification_attempts", "Delivery attempts, by channel and outcome", ["channel", "outcome"],
    registry=REGISTRY,
)  # fmt: skip
# The escalation auditor (cloud/escalation/auditor.py), set on every check by every process: due chains late by
# more than two ticks (`overdue_steps`), pending alarm-class messages older than a minute (`stale_alarm_outbox`).
ESCALATION_TROUBLE = Gauge(
    "tryggheim_escalation_trouble", "What the escalation auditor found late at its last check, by kind", ["kind"],
    registry=REGISTRY,
)  # fmt: skip
# The interoperability worker (cloud/interop/runner.py), set after every VKP round by every process: documents
# whose journaling failed and is being retried (`vkp_failing`), refused PMD entries not yet shared (`pmd_waiting`).
INTEROP_BACKLOG = Gauge(
    "tryggheim_interop_backlog", "What waits for the national services after failures, by kind", ["kind"],
    registry=REGISTRY,
)  # fmt: skip
