"""The last readings behind each alert of a worklist, for its sparkline: one metric per alert (the one the
alert's explanation names, else the first of its rule's measured metrics that the patient has readings of; for
a worsening episode, its evidence's rules in the order they fired), its newest readings of the last week,
oldest first. Two queries for the whole list, however long."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.episodes import EPISODE_RULE
from cloud.evaluation.protocols import assigned_protocols
from cloud.worklist.models import PatientGroup, WorklistAlert
from device_profiles.metrics import load_catalogue

POINTS = 12
DAYS = 7
# A sparkline shows a measured quantity: not an event (a button press) or a state.
_MEASURED = frozenset({"vital", "ordinal"})

_RECENT = """
    SELECT k.alert_id, k.metric, o.t, o.value, o.unit
    FROM unnest(%(alerts)s::bigint[], %(patients)s::uuid[], %(metrics)s::text[]) AS k(alert_id, patient_id, metric)
    CROSS JOIN LATERAL (
        SELECT t, value, unit FROM observations
        WHERE patient_id = k.patient_id AND metric = k.metric AND t > now() - make_interval(days => %(days)s)
        ORDER BY t DESC LIMIT %(points)s
    ) o
    ORDER BY k.alert_id, k.metric, o.t
"""


@dataclass
class Recent:
    """One metric's newest readings behind an alert, oldest first."""

    metric: str
    unit: str
    points: list[tuple[datetime, float]] = field(default_factory=list)


def _named_metric(alert: WorklistAlert) -> str | None:
    """The metric the alert's own explanation names, when it names one (limit and series rules do)."""
    inner = alert.explanation.get("explanation")
    thresholds = inner.get("thresholds") if isinstance(inner, dict) else None
    metric = thresholds.get("metric") if isinstance(thresholds, dict) else None
    return metric if isinstance(metric, str) else None


def _rules_of(alert: WorklistAlert) -> list[str]:
    """The rules whose metrics show the alert: its own, or for a worsening episode the rules of its evidence
    in the order they fired."""
    if alert.rule != EPISODE_RULE:
        return [alert.rule]
    entries = alert.last_value.get("evidence")
    found = [e.get("rule") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    return list(dict.fromkeys(rule for rule in found if isinstance(rule, str)))


def _candidates(alert: WorklistAlert, rule_metrics: tuple[str, ...]) -> list[str]:
    catalogue = load_catalogue()
    named = _named_metric(alert)
    ordered = [named] if named else []
    ordered += [m for m in rule_metrics if m != named]
    return [m for m in ordered if m in catalogue and catalogue[m].kind in _MEASURED]


async def recent_readings(conn: AsyncConnection[Any], groups: list[PatientGroup]) -> dict[int, Recent]:
    """Per alert id, the newest readings of the metric that best shows it (alerts about no measured quantity,
    such as an alarm button, have none)."""
    protocols = await assigned_protocols(conn, [group.patient_id for group in groups])
    alerts: list[int] = []
    patients: list[UUID] = []
    metrics: list[str] = []
    for group in groups:
        rules = protocols[group.patient_id].by_id() if group.patient_id in protocols else {}
        for alert in group.alerts:
            shown = tuple(m for name in _rules_of(alert) if name in rules for m in rules[name].metrics)
            for metric in _candidates(alert, shown):
                alerts.append(alert.id)
                patients.append(group.patient_id)
                metrics.append(metric)
    if not alerts:
        return {}
    cur = conn.cursor(row_factory=dict_row)
    params = {"alerts": alerts, "patients": patients, "metrics": metrics, "days": DAYS, "points": POINTS}
    await cur.execute(_RECENT, params)
    found: dict[tuple[int, str], Recent] = {}
    for row in await cur.fetchall():
        recent = found.setdefault((row["alert_id"], row["metric"]), Recent(row["metric"], row["unit"]))
        recent.points.append((row["t"], row["value"]))
    chosen: dict[int, Recent] = {}
    for alert_id, metric in zip(alerts, metrics, strict=True):  # in preference order per alert
        if alert_id not in chosen and (alert_id, metric) in found:
            chosen[alert_id] = found[(alert_id, metric)]
    return chosen
