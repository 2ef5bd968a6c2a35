"""What a patient sees of their own record (`/me`), and what a relative they invited sees: the newest value of
each measurement with what it means in plain words (`plain_words`), its course over 30 days, when to measure
next by the protocol's planned times, and the questions of the day with the answers given.

Every piece comes from the service that owns it (the protocol in force with the patient's own limits, the
newest readings and their series, the open alerts, the patient's own answers); this module puts them side by
side and leaves words and layout to the page. The caller has applied the access policy (`own_record` for the
patient, `relative_record` for a relative), whose audit record covers the read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

from psycopg import AsyncConnection

from alerts.protocols.model import Protocol
from alerts.thresholds import Limits
from cloud.alert_store.store import open_alerts
from cloud.evaluation.protocols import protocol_for
from cloud.evaluation.status import threshold_limits
from cloud.ingest import self_report
from cloud.query import store
from cloud.query.store import Row
from cloud.worklist import plain_words
from common.timefmt import OSLO

TREND_DAYS: Final = 30
TREND_MAX: Final = 500  # readings drawn per measurement; a month of four a day is 120
# Measurement on the page -> the stored metrics it shows (blood pressure is one measurement of two numbers).
MEASUREMENTS: Final = {
    "bp": ("bp.systolic", "bp.diastolic"),
    "heart_rate": ("heart_rate",),
    "spo2": ("spo2",),
    "body.weight": ("body.weight",),
    "body.temperature": ("body.temperature",),
    "blood.glucose": ("blood.glucose",),
}
ANSWERS: Final = (*self_report.DAILY.values(), self_report.WEEKLY_METRIC)


@dataclass(frozen=True)
class Trend:
    """The course of a measurement's first number over the last 30 days (oldest first), with its extremes."""

    values: list[float]
    lowest: float
    highest: float
    band: tuple[float | None, float | None]  # the usual range, shaded where the protocol sets one


@dataclass(frozen=True)
class Measurement:
    """A measurement's newest value(s) and what they mean: `sentence` is a catalogue text with `{what}`
    (`subject`); for an answer, `answer` is its words (None: a score such as the week's total)."""

    key: str
    values: tuple[float, ...]
    unit: str
    measured_at: datetime
    sentence: str
    subject: str
    answer: str | None
    told: bool
    trend: Trend | None


@dataclass(frozen=True)
class OwnView:
    """Everything the patient's own page shows of their measurements and questions."""

    patient_id: UUID
    name: str
    measurements: list[Measurement]
    answers: list[Measurement]
    upcoming: list[plain_words.NextMeasurement]
    daily_due: bool
    weekly_due: bool
    weekly: bool


def _told_metrics(protocol: Protocol, alerting: Sequence[str]) -> set[str]:
    """The metrics the open clinical alerts are about: the nurse has been told about those."""
    rules = protocol.by_id()
    return {
        m for rule in alerting if rule in rules and rules[rule].alert_class == "clinical" for m in rules[rule].metrics
    }


def _limits(protocol: Protocol, metric: str) -> Limits | None:
    found = threshold_limits(protocol).get(metric)
    return found[0].limits if found else None


async def _trend(
    conn: AsyncConnection[Any], patient_id: UUID, metric: str, band: Limits | None, now: datetime
) -> Trend:
    rows = await store.raw(conn, patient_id, metric, now - timedelta(days=TREND_DAYS), now + timedelta(minutes=5),
                           None, TREND_MAX)  # fmt: skip
    values = [row.value for row in rows]
    edges = (band.green_low, band.green_high) if band else (None, None)
    return Trend(values, min(values, default=0.0), max(values, default=0.0), edges)


async def _measurement(
    conn: AsyncConnection[Any], patient_id: UUID, key: str, rows: list[Row], protocol: Protocol, told: set[str],
    now: datetime,
) -> Measurement:  # fmt: skip
    metrics = MEASUREMENTS[key]
    limits = [_limits(protocol, metric) for metric in metrics]
    judged = [(row.value, own) for row, own in zip(rows, limits, strict=True) if own is not None]
    judgement = plain_words.judge([v for v, _ in judged], [own for _, own in judged])
    alerted = any(metric in told for metric in metrics)
    return Measurement(
        key=key, values=tuple(row.value for row in rows), unit=rows[0].unit, measured_at=max(r.t for r in rows),
        sentence=plain_words.sentence(judgement, alerted), subject=plain_words.SUBJECTS[key], answer=None,
        told=alerted, trend=await _trend(conn, patient_id, metrics[0], limits[0], now),
    )  # fmt: skip


def _answer(metric: str, row: Row, told: set[str]) -> Measurement:
    alerted = metric in told
    sentence = plain_words.TOLD_ABOUT_ANSWER if alerted else ""
    return Measurement(
        key=metric, values=(row.value,), unit=row.unit, measured_at=row.t, sentence=sentence,
        subject=plain_words.ANSWER_TITLES[metric], answer=plain_words.answer_words(metric, row.value), told=alerted,
        trend=None,
    )  # fmt: skip


def _planned(protocol: Protocol, newest: dict[str, Row], now: datetime) -> list[plain_words.NextMeasurement]:
    """The protocol's planned daily measurements, next due first."""
    found = []
    for rule in protocol.rules:
        params = rule.spec.params
        if rule.spec.detector == "planned_measurement" and isinstance(params.get("metric"), str):
            metric = params["metric"]
            last = newest[metric].t if metric in newest else None
            found.append(plain_words.next_due(metric, float(params.get("due_by", 11.0)), last, now.astimezone(OSLO)))
    return sorted(found, key=lambda upcoming: upcoming.due)


async def own_view(conn: AsyncConnection[Any], patient_id: UUID, name: str, now: datetime | None = None) -> OwnView:
    """The patient's own view (`name` as the registry has it)."""
    moment = now or datetime.now(UTC)
    protocol = await protocol_for(conn, patient_id)
    wanted = [metric for metrics in MEASUREMENTS.values() for metric in metrics] + list(ANSWERS)
    newest = dict(await store.latest(conn, patient_id, wanted))
    told = _told_metrics(protocol, list(await open_alerts(conn, patient_id)))
    measurements = [
        await _measurement(conn, patient_id, key, [newest[m] for m in metrics], protocol, told, moment)
        for key, metrics in MEASUREMENTS.items()
        if all(metric in newest for metric in metrics)
    ]
    answers = [_answer(metric, newest[metric], told) for metric in ANSWERS if metric in newest]
    weekly = any(self_report.WEEKLY_METRIC in rule.metrics for rule in protocol.rules)
    daily_due, weekly_due = self_report.due(await self_report.answered(conn, patient_id, moment), moment,
                                            weekly=weekly)  # fmt: skip
    return OwnView(patient_id, name, measurements, answers, _planned(protocol, newest, moment), daily_due,
                   weekly_due, weekly)  # fmt: skip


async def answer_questions(
    conn: AsyncConnection[Any], *, municipality_id: UUID, patient_id: UUID, values: dict[str, object], audit_id: int
) -> None:
    """Store the patient's answers to the day's questions (and the week's, where their protocol has them):
    `cloud.ingest.self_report.answer`, with whether the protocol asks the week's questions."""
    protocol = await protocol_for(conn, patient_id)
    weekly = any(self_report.WEEKLY_METRIC in rule.metrics for rule in protocol.rules)
    await self_report.answer(conn, municipality_id=municipality_id, patient_id=patient_id, values=values,
                             weekly=weekly, audit_id=audit_id)  # fmt: skip
