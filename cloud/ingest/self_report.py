"""The patient's own answers to the questions of the day (breathlessness, swelling, how they feel) and, where
their protocol follows the COPD Assessment Test, the week's eight lung questions: stored as observations the
rules read, by the same path and the same checks as the answers a nurse enters at a visit
(`cloud.ingest.manual`), with the patient as their author and the audit record of the request.

The three daily questions are answered together; one missing or bad answer writes nothing. A day (Europe/Oslo)
has one set of answers: a second set the same day is refused, not replaced, because the rules may already
have acted on the first and a reading is evidence that is never overwritten; the person is told they can
answer again tomorrow, and to call their nurse if something has changed. The week's questions may be left out,
and once answered are not asked again for seven days.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from cloud.ingest.manual import CAT_ITEMS, Entered, Entry, Problem, VitalsRefusedError, check, enter
from cloud.registry.errors import ConflictError
from common.i18n import N_
from common.timefmt import OSLO

DAILY: Final = {"dyspnoea": "symptom.dyspnoea", "oedema": "symptom.oedema", "wellbeing": "symptom.wellbeing"}
WEEKLY_METRIC: Final = "cat.score"
WEEK: Final = timedelta(days=7)
_NEWEST = (
    "SELECT metric, max(measured_at) AS at FROM observations WHERE patient_id = %s AND source = 'manual' "
    "AND entered_by = %s AND metric = ANY(%s) AND measured_at >= %s GROUP BY metric"
)


class AnsweredTodayError(ConflictError):
    """The day's questions are answered already (409); nothing was stored."""

    message = N_("You have already answered today's questions. You can answer again tomorrow. If something has "
                 "changed, call your nurse.")  # fmt: skip

    def __init__(self) -> None:
        super().__init__(self.message)


async def answered(conn: AsyncConnection[Any], patient_id: UUID, now: datetime) -> dict[str, datetime]:
    """When the patient last answered each question of their own within the last week (metric -> time)."""
    cur = conn.cursor(row_factory=dict_row)
    metrics = [*DAILY.values(), WEEKLY_METRIC]
    await cur.execute(_NEWEST, (patient_id, patient_id, metrics, now - WEEK))
    return {row["metric"]: row["at"] for row in await cur.fetchall()}


def day_start(now: datetime) -> datetime:
    """Midnight of `now`'s day in Europe/Oslo."""
    return now.astimezone(OSLO).replace(hour=0, minute=0, second=0, microsecond=0)


def due(answers: Mapping[str, datetime], now: datetime, *, weekly: bool) -> tuple[bool, bool]:
    """Whether the day's questions are still to answer today, and the week's (when the protocol has them)."""
    daily_due = not any(at >= day_start(now) for metric, at in answers.items() if metric in DAILY.values())
    return daily_due, weekly and WEEKLY_METRIC not in answers


def _problems(values: Mapping[str, object], weekly_due: bool) -> list[Problem]:
    """What is wrong with the answers before the visit's checks: a daily answer missing, a question not asked."""
    found = [Problem(field, N_("Choose an answer.")) for field in DAILY if values.get(field) is None]
    for field, value in values.items():
        if field not in DAILY and (field != CAT_ITEMS or not weekly_due) and value is not None:
            found.append(Problem(field, N_("This question is not asked today.")))
    return found


async def answer(
    conn: AsyncConnection[Any], *, municipality_id: UUID, patient_id: UUID, values: Mapping[str, object],
    weekly: bool, audit_id: int, now: datetime | None = None,
) -> Entered:  # fmt: skip
    """Store the patient's answers (fields `dyspnoea`, `oedema`, `wellbeing`, and `cat_items` when the week's
    questions are due) and queue their evaluation, all or nothing.

    Raises `VitalsRefusedError` (422, one problem per field) and `AnsweredTodayError` (409); the visit's
    `NotInServiceError` (409) for a patient who has left the service.
    """
    moment = now or datetime.now(UTC)
    async with conn.transaction():
        # One set of answers a day even when two tabs post at once: the check and the write under one lock.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"self_report:{patient_id}",))
        daily_due, weekly_due = due(await answered(conn, patient_id, moment), moment, weekly=weekly)
        if not daily_due:
            raise AnsweredTodayError
        problems = _problems(values, weekly_due)
        given = {field: value for field, value in values.items() if value is not None}
        try:
            check(Entry(values=given), moment)  # type: ignore[arg-type]
        except VitalsRefusedError as refused:
            problems += [p for p in refused.problems if p.field not in {q.field for q in problems}]
        if problems:
            raise VitalsRefusedError(problems)
        entry = Entry(values=given)  # type: ignore[arg-type]
        return await enter(conn, municipality_id=municipality_id, patient_id=patient_id, entry=entry,
                           by=patient_id, audit_id=audit_id, now=moment)  # fmt: skip
