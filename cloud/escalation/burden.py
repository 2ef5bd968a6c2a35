"""The alarm-burden report: how much alerting a municipality's teams carry over a period, and what it led to.

Per team, rule, protocol (the rule's first dotted part: `news2.high` -> `news2`) and patient: alerts and
episodes per day, the share acted on (an outcome other than `false_alarm` recorded), outcomes counted, and the
times from opening to acknowledgement and to resolution (median and p90, nearest rank, over the alerts that got
there). A rule "fires constantly" when it opened alerts on at least 80 % of the period's days. Patients are
named by id only; the API route audits the read (patient_search). Reads only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from cloud.alert_store.chain import call_started

EPISODE_RULE = "episode.clinical"
CONSTANT_SHARE = 0.8
TOP_PATIENTS = 10

_ROWS = (
    "SELECT a.id, a.rule, a.patient_id, p.care_team_id AS team_id, t.name AS team, a.opened_at, "  # noqa: S608 - fixed text
    f"a.acknowledged_at, {call_started('a')} AS call_started_at, a.resolved_at, "
    "(SELECT o.outcome FROM alert_outcomes o WHERE o.alert_id = a.id ORDER BY o.id DESC LIMIT 1) AS outcome "
    "FROM alerts a JOIN patients p ON p.id = a.patient_id LEFT JOIN care_teams t ON t.id = p.care_team_id "
    "WHERE (%(town)s::uuid IS NULL OR p.municipality_id = %(town)s) "
    "AND a.opened_at >= %(start)s AND a.opened_at < %(end)s "
    "AND (%(teams)s::uuid[] IS NULL OR p.care_team_id = ANY(%(teams)s::uuid[])) "
    "AND NOT (p.id = ANY(%(hidden)s::uuid[])) ORDER BY a.id"
)


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (`share` 0.5: median, 0.9: p90) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summarise(rows: Iterable[dict[str, Any]], days: float) -> dict[str, Any]:
    """Counts, rates, outcomes and time figures of one group of alert rows."""
    group = list(rows)
    episodes = sum(1 for r in group if r["rule"] == EPISODE_RULE)
    outcomes: dict[str, int] = defaultdict(int)
    for r in group:
        if r["outcome"]:
            outcomes[r["outcome"]] += 1
    acted = sum(n for outcome, n in outcomes.items() if outcome != "false_alarm")
    ack = [(r["acknowledged_at"] - r["call_started_at"]).total_seconds() for r in group if r["acknowledged_at"]]
    resolve = [(r["resolved_at"] - r["opened_at"]).total_seconds() for r in group if r["resolved_at"]]
    return {
        "alerts": len(group), "episodes": episodes,
        "alerts_per_day": round(len(group) / days, 3), "episodes_per_day": round(episodes / days, 3),
        "acted_on_share": round(acted / len(group), 3) if group else None, "outcomes": dict(sorted(outcomes.items())),
        "ack_median_s": percentile(ack, 0.5), "ack_p90_s": percentile(ack, 0.9),
        "resolve_median_s": percentile(resolve, 0.5), "resolve_p90_s": percentile(resolve, 0.9),
    }  # fmt: skip


def _by(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], str], days: float, name: str) -> list[Any]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    return [{name: k, **summarise(v, days)} for k, v in sorted(groups.items())]


def report(rows: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, Any]:
    """The whole report over alert rows opened in [start, end) (pure: the tests feed it known rows too)."""
    days = max((end - start).total_seconds() / 86400, 1 / 24)
    period_days = max(1, math.ceil(days))
    fired_on: dict[str, set[int]] = defaultdict(set)
    per_patient: dict[str, int] = defaultdict(int)
    for r in rows:
        fired_on[r["rule"]].add(int((r["opened_at"] - start).total_seconds() // 86400))
        per_patient[str(r["patient_id"])] += 1
    top = sorted(per_patient.items(), key=lambda item: (-item[1], item[0]))[:TOP_PATIENTS]
    return {
        "from": start.isoformat(), "to": end.isoformat(), "days": round(days, 3), "total": summarise(rows, days),
        "by_team": _by(rows, lambda r: str(r["team"] or "-"), days, "team"),
        "by_rule": _by(rows, lambda r: str(r["rule"]), days, "rule"),
        "by_protocol": _by(rows, lambda r: str(r["rule"]).split(".")[0], days, "protocol"),
        "constant_rules": sorted(rule for rule, d in fired_on.items() if len(d) >= CONSTANT_SHARE * period_days),
        "patients_most_alerts": [{"patient_id": p, "alerts": n} for p, n in top],
    }  # fmt: skip


async def burden(
    conn: AsyncConnection[Any], municipality_id: UUID | None, start: datetime, end: datetime,
    teams: Iterable[UUID] | None = None, hidden: Iterable[UUID] = (),
) -> dict[str, Any]:  # fmt: skip
    """The report over [start, end) for a municipality (None: all), maybe some teams, without `hidden` patients."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_ROWS, {"town": municipality_id, "start": start, "end": end,
                              "teams": None if teams is None else list(teams), "hidden": list(hidden)})  # fmt: skip
    return report(await cur.fetchall(), start, end)
