"""A patient's history as the patient page shows it: their alerts with the outcomes people recorded, in words,
and the NEWS2 scores the rules acted on. The caller has applied the patient's access policy.

NEWS2 is stored only where it mattered: every transition of a NEWS2 rule (an alert opened, repeated, raised
in severity, or not notified because of a pause or silence) keeps the score and subscores detection computed.
A score below the rule's alert level changes nothing and is not stored; the page shows the score of the newest
readings beside this history (`cloud.evaluation.status`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.news2.chart import Param
from alerts.wording import Reader
from alerts.wording.outcomes import outcome_text
from cloud.worklist import triage
from cloud.worklist.models import AlertOut, SuppressionOut
from cloud.worklist.texts import describe_rows

NEWS2_LIMIT: Final = 50
NEWS2_EVENTS: Final = ("triggered", "repeated", "severity_changed", "suppressed")
_NEWS2 = (
    "SELECT alert_id, event, severity, suppressed_by, at, detail->'explanation'->'explanation' AS news2 "
    "FROM alert_transitions WHERE patient_id = %s AND event = ANY(%s) "
    "AND detail->'explanation'->'explanation'->>'rule' = 'news2' ORDER BY id DESC LIMIT %s"
)
_OUTCOMES = (
    "SELECT alert_id, outcome, at, recorded_by, note FROM alert_outcomes WHERE alert_id = ANY(%s) ORDER BY at, id"
)


@dataclass(frozen=True)
class Outcome:
    """An outcome recorded on an alert: its code, in words, when, by whom (their id) and the note."""

    code: str
    text: str
    at: datetime
    by: UUID
    note: str | None


@dataclass(frozen=True)
class PastAlert:
    """One of the patient's alerts in words, with its outcomes."""

    alert: AlertOut
    title: str
    sentence: str
    outcomes: list[Outcome]


@dataclass(frozen=True)
class AlertHistory:
    """Open alerts, those resolved in the last 30 days (newest first) and what detection did not notify."""

    open: list[PastAlert]
    recent: list[PastAlert]
    suppressed: list[SuppressionOut]


@dataclass(frozen=True)
class News2Score:
    """A NEWS2 a rule acted on: when, what it did, the score, its subscores and whether all seven were in."""

    at: datetime
    alert_id: int | None
    event: str
    severity: str
    suppressed_by: str | None
    score: int
    subscores: dict[str, int]
    complete: bool


async def _outcomes(conn: AsyncConnection[Any], alert_ids: list[int], reader: Reader) -> dict[int, list[Outcome]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_OUTCOMES, (alert_ids,))
    found: dict[int, list[Outcome]] = {}
    for row in await cur.fetchall():
        text = outcome_text(row["outcome"], reader) or row["outcome"]
        outcome = Outcome(row["outcome"], text, row["at"], row["recorded_by"], row["note"])
        found.setdefault(row["alert_id"], []).append(outcome)
    return found


async def alert_history(conn: AsyncConnection[Any], patient_id: UUID, reader: Reader) -> AlertHistory:
    """The patient's alerts as the triage service lists them (`triage.patient_alerts`), each worded for the
    reader with its outcomes."""
    listed = await triage.patient_alerts(conn, patient_id)
    alerts = [*listed.open, *listed.recent]
    worded_fields = {"rule", "severity", "explanation"}
    rows = [{"patient_id": patient_id, **alert.model_dump(include=worded_fields)} for alert in alerts]
    texts = await describe_rows(conn, rows, reader)
    outcomes = await _outcomes(conn, [alert.id for alert in alerts], reader)
    worded = [
        PastAlert(alert, text.title, text.sentence, outcomes.get(alert.id, []))
        for alert, text in zip(alerts, texts, strict=True)
    ]
    return AlertHistory(
        open=[item for item in worded if item.alert.resolved_at is None],
        recent=[item for item in worded if item.alert.resolved_at is not None],
        suppressed=listed.suppressed,
    )


def _score(row: Mapping[str, Any]) -> News2Score | None:
    values = (row["news2"] or {}).get("values") or {}
    score, subscores = values.get("score"), values.get("subscores")
    if not isinstance(score, int) or not isinstance(subscores, dict):
        return None
    return News2Score(
        at=row["at"], alert_id=row["alert_id"], event=row["event"], severity=row["severity"],
        suppressed_by=row["suppressed_by"], score=score, subscores=subscores,
        complete=all(param.value in subscores for param in Param),
    )  # fmt: skip


async def news2_history(conn: AsyncConnection[Any], patient_id: UUID) -> list[News2Score]:
    """The NEWS2 scores the patient's NEWS2 rules acted on, newest first (at most 50)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_NEWS2, (patient_id, list(NEWS2_EVENTS), NEWS2_LIMIT))
    return [score for row in await cur.fetchall() if (score := _score(row)) is not None]
