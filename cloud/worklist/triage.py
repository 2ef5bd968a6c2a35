"""The triage read model: the worklist, an alert's detail, its notifications, a patient's alerts and the dead
letters. The JSON API and the web pages both call these functions, so a page can never show what the API
would not, nor differently; the callers have already applied the access policy (the scope filter or the
alert's patient grant). Rows are read by column name. What people read (an alert's title and sentence, the
names of the people who wrote its notes) is worded here for the reader, once per list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row

from alerts.episodes import EPISODE_RULE
from alerts.wording import Reader
from cloud.access.directory import staff_names
from cloud.access.policy import PatientScopeFilter
from cloud.evaluation.protocols import protocol_for
from cloud.ingest.local_alarm import raised_locally
from cloud.interop.status import journal_of
from cloud.worklist.models import (
    AlertDetail,
    AlertOut,
    AlertReading,
    DeadLetter,
    EvidenceOut,
    JournalOut,
    LocalAttemptOut,
    Note,
    NotificationOut,
    PatientAlerts,
    PatientGroup,
    RouteInfo,
    SuppressionOut,
    Worklist,
    WorklistAlert,
)
from cloud.worklist.texts import describe_rows

READINGS_HOURS = 72
READINGS_LIMIT = 200
RECENT_DAYS = 30
RECENT_LIMIT = 100
ALERT_COLUMNS = ", ".join(f"a.{name}" for name in AlertOut.model_fields)
# The per-alert timestamps of the alert's detail, in the order they happen.
# The fields of an alert that are its words rather than its columns.
WORDS = frozenset({"title", "sentence"})
MARKS = ("device_event_at", "gateway_received_at", "cloud_committed_at", "opened_at", "first_notified_at",
         "acknowledged_at", "on_site_at", "resolved_at")  # fmt: skip


@dataclass(frozen=True)
class WorklistFilter:
    """What the caller narrows the worklist to; None leaves a dimension open."""

    severity: str | None = None
    alert_class: str | None = None
    event_class: str | None = None
    state: str | None = None
    team_id: UUID | None = None


_WORKLIST = (
    f"SELECT {ALERT_COLUMNS}, a.escalation->>'event_class' AS event_class, a.next_step, "  # noqa: S608 - fixed columns
    "a.acknowledged_at, p.id AS patient_id, p.display_name, p.care_team_id, "
    "CASE WHEN a.next_step = 0 AND (a.escalation->'route'->>'deliver_at')::float8 > extract(epoch FROM now()) "
    "THEN to_timestamp((a.escalation->'route'->>'deliver_at')::float8) END AS waiting_until, "
    "j.last_error AS journal_error, j.attempts AS journal_attempts, j.next_attempt_at AS journal_retry_at "
    "FROM alerts a JOIN patients p ON p.id = a.patient_id "
    "LEFT JOIN vkp_journal j ON j.alert_id = a.id AND j.journaled_at IS NULL "
    "WHERE (a.resolved_at IS NULL OR j.last_error IS NOT NULL) "
    "AND a.episode_id IS NULL AND p.municipality_id = %(town)s "
    "AND (%(teams)s::uuid[] IS NULL OR p.care_team_id = ANY(%(teams)s::uuid[])) AND NOT p.id = ANY(%(hidden)s::uuid[]) "
    "AND (%(severity)s::text IS NULL OR a.severity = %(severity)s) "
    "AND (%(cls)s::text IS NULL OR a.alert_class = %(cls)s) "
    "AND (%(event)s::text IS NULL OR a.escalation->>'event_class' = %(event)s) "
    "AND (%(state)s::text IS NULL OR a.state = %(state)s) "
    "AND (%(team)s::uuid IS NULL OR p.care_team_id = %(team)s) "
    "ORDER BY (a.severity = 'red') DESC, a.opened_at, a.id"
)


async def worklist(
    conn: AsyncConnection[Any], scope: PatientScopeFilter, only: WorklistFilter, reader: Reader
) -> Worklist:
    """Open alerts within `scope` (a worsening episode, not the rules' alerts that are its evidence), red before
    yellow then oldest first, grouped per patient in the order of their most urgent alert, with counts per
    severity and state, each alert worded for `reader`. A resolved alert whose journaling to VKP failed stays
    listed, with the reason, until VKP has it (cloud/interop/vkp): the record must not silently lack it."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _WORKLIST,
        {
            "town": scope.municipality_id,
            "teams": None if scope.team_ids is None else [*scope.team_ids],
            "hidden": [*scope.hidden],
            "severity": only.severity,
            "cls": only.alert_class,
            "event": only.event_class,
            "state": only.state,
            "team": only.team_id,
        },
    )
    found = await cur.fetchall()
    groups: dict[UUID, PatientGroup] = {}
    columns = [name for name in WorklistAlert.model_fields if name not in WORDS]
    for row, text in zip(found, await describe_rows(conn, found, reader), strict=True):
        alert = WorklistAlert(**{name: row[name] for name in columns}, title=text.title, sentence=text.sentence)
        group = groups.setdefault(
            row["patient_id"],
            PatientGroup(
                patient_id=row["patient_id"], display_name=row["display_name"], care_team_id=row["care_team_id"],
                counts={}, alerts=[],
            ),
        )  # fmt: skip
        group.alerts.append(alert)
        for key in ("total", alert.severity, alert.state):
            group.counts[key] = group.counts.get(key, 0) + 1
    return Worklist(total=len(found), patients=list(groups.values()))


async def notifications(conn: AsyncConnection[Any], alert_id: int) -> list[NotificationOut]:
    """The alert's notifications, one per step, each with its delivery attempts in order."""
    fields = [name for name in NotificationOut.model_fields if name != "history"]
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {', '.join(fields)} FROM notifications WHERE alert_id = %s ORDER BY step",  # noqa: S608
        (alert_id,),
    )
    steps = await cur.fetchall()
    await cur.execute(
        "SELECT t.notification_id, t.at, t.ok, t.detail, t.process FROM notification_attempts t "
        "JOIN notifications n ON n.id = t.notification_id WHERE n.alert_id = %s ORDER BY t.id",
        (alert_id,),
    )
    history: dict[int, list[dict[str, Any]]] = {}
    for attempt in await cur.fetchall():
        history.setdefault(attempt.pop("notification_id"), []).append(attempt)
    return [NotificationOut(**step, history=history.get(step["id"], [])) for step in steps]


async def rule_metrics(conn: AsyncConnection[Any], patient_id: UUID, rules: list[str]) -> list[str]:
    """The metrics the rules read in the patient's protocol, in rule order (none for rules it no longer has)."""
    by_id = (await protocol_for(conn, patient_id)).by_id()
    found = [metric for rule in rules if rule in by_id for metric in by_id[rule].metrics]
    return list(dict.fromkeys(found))


async def evidence(conn: AsyncConnection[Any], episode_id: int, reader: Reader) -> list[EvidenceOut]:
    """The rules' alerts a worsening episode collected, in the order they opened, each worded for `reader`."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, patient_id, rule, severity, state, explanation, opened_at, resolved_at FROM alerts "
        "WHERE episode_id = %s ORDER BY opened_at, id",
        (episode_id,),
    )
    rows = await cur.fetchall()
    fields = [name for name in EvidenceOut.model_fields if name not in WORDS and name != "alert_id"]
    return [
        EvidenceOut(
            alert_id=row["id"], **{name: row[name] for name in fields}, title=text.title, sentence=text.sentence
        )
        for row, text in zip(rows, await describe_rows(conn, rows, reader), strict=True)
    ]


async def _notes(conn: AsyncConnection[Any], alert_id: int, municipality_id: UUID) -> list[Note]:
    """The alert's comments and outcomes in time order, each with its author's name."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT 'comment' AS kind, body AS text, created_at AS at, author AS \"by\" FROM alert_comments "
        "WHERE alert_id = %(id)s UNION ALL SELECT 'outcome:' || outcome, coalesce(note, ''), at, recorded_by "
        "FROM alert_outcomes WHERE alert_id = %(id)s ORDER BY at",
        {"id": alert_id},
    )
    rows = await cur.fetchall()
    authors = await staff_names(conn, municipality_id, [row["by"] for row in rows])
    return [Note(**row, author=authors.get(row["by"])) for row in rows]


async def alert_detail(conn: AsyncConnection[Any], alert_id: int, patient_id: UUID, reader: Reader) -> AlertDetail:
    """The alert (which the caller's grant has shown to exist and to be the patient's) with its explanation in
    words for `reader`, the readings of its rule's metrics from the last 72 hours, its notifications and its
    notes with their authors' names."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {ALERT_COLUMNS}, a.patient_id, a.escalation, {', '.join(MARKS)}, p.display_name, "  # noqa: S608
        "p.municipality_id FROM alerts a JOIN patients p ON p.id = a.patient_id WHERE a.id = %s",
        (alert_id,),
    )
    row = await cur.fetchone()
    assert row is not None  # the access policy has checked that it exists
    alert = AlertOut(**{name: row[name] for name in AlertOut.model_fields})
    [text] = await describe_rows(conn, [row], reader)
    escalation = row["escalation"] or {}
    since = min(alert.opened_at, datetime.now(UTC)) - timedelta(hours=READINGS_HOURS)
    members = await evidence(conn, alert_id, reader) if alert.rule == EPISODE_RULE else []
    # An episode's readings are those of the rules that gave its evidence.
    rules = list(dict.fromkeys(member.rule for member in members)) or [alert.rule]
    metrics = await rule_metrics(conn, patient_id, rules)
    readings = conn.cursor(row_factory=class_row(AlertReading))
    await readings.execute(
        "SELECT metric, value, unit, t, received_at, stored_at FROM observations WHERE patient_id = %s "
        "AND metric = ANY(%s) AND t > %s ORDER BY t DESC LIMIT %s",
        (patient_id, metrics, since, READINGS_LIMIT),
    )
    local = await raised_locally(conn, alert_id=alert_id, rule=alert.rule, patient_id=patient_id, metrics=metrics,
                                 since=since, until=alert.last_input_at or datetime.now(UTC))  # fmt: skip
    return AlertDetail(
        alert=alert,
        patient_id=patient_id,
        patient=row["display_name"],
        title=text.title,
        sentence=text.sentence,
        event_class=escalation.get("event_class"),
        policy=(escalation.get("policy") or {}).get("name"),
        route=_route(escalation.get("route")),
        timestamps={mark: row[mark] for mark in MARKS},
        readings=await readings.fetchall(),
        notifications=await notifications(conn, alert_id),
        notes=await _notes(conn, alert_id, row["municipality_id"]),
        raised_locally=[LocalAttemptOut(**attempt) for attempt in local],
        journal=await _journal(conn, alert_id),
        evidence=members,
    )


async def _journal(conn: AsyncConnection[Any], alert_id: int) -> JournalOut | None:
    found = await journal_of(conn, alert_id)
    return None if found["state"] == "not_journaled" else JournalOut(**found)


def _route(stored: dict[str, Any] | None) -> RouteInfo | None:
    if stored is None:
        return None
    at = stored.get("deliver_at")
    return RouteInfo(recipient=stored["recipient"], why=stored["why"], staff=stored.get("staff", []),
                     deliver_at=None if at is None else datetime.fromtimestamp(at, UTC))  # fmt: skip


async def dead_letters(conn: AsyncConnection[Any], municipality_id: UUID) -> list[DeadLetter]:
    """Dead-lettered notifications of the municipality, newest first (at most 500)."""
    cur = conn.cursor(row_factory=class_row(DeadLetter))
    await cur.execute(
        "SELECT n.id, n.alert_id, n.step, n.channel, n.target, n.attempts, n.last_error, n.created_at "
        "FROM notifications n JOIN alerts a ON a.id = n.alert_id JOIN patients p ON p.id = a.patient_id "
        "WHERE n.status = 'dead' AND p.municipality_id = %s ORDER BY n.id DESC LIMIT 500",
        (municipality_id,),
    )
    return await cur.fetchall()


async def patient_alerts(conn: AsyncConnection[Any], patient_id: UUID) -> PatientAlerts:
    """The patient's open alerts and those resolved in the last 30 days, newest first, and the suppressions
    of those 30 days. A worsening episode stands for its members (they are listed in its detail)."""
    since = datetime.now(UTC) - timedelta(days=RECENT_DAYS)
    alerts = conn.cursor(row_factory=class_row(AlertOut))
    await alerts.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.patient_id = %s AND a.episode_id IS NULL "  # noqa: S608
        "AND (a.resolved_at IS NULL OR a.resolved_at > %s) ORDER BY a.opened_at DESC, a.id DESC LIMIT %s",
        (patient_id, since, RECENT_LIMIT),
    )
    found = await alerts.fetchall()
    suppressed = conn.cursor(row_factory=class_row(SuppressionOut))
    await suppressed.execute(
        "SELECT rule, suppressed_by, at, message FROM alert_transitions WHERE patient_id = %s "
        "AND event = 'suppressed' AND at > %s ORDER BY id DESC LIMIT %s",
        (patient_id, since, RECENT_LIMIT),
    )
    return PatientAlerts(
        open=[a for a in found if a.resolved_at is None],
        recent=[a for a in found if a.resolved_at is not None],
        suppressed=await suppressed.fetchall(),
    )
