"""VKP journaling as a service: find resolved alerts, freeze their documents, send what is due.

`sweep` turns each resolved alert of a municipality with a VKP client into a journal row, its document built
from what the alert, the nurse and the readings say at that moment (cloud/interop/vkp/document.py); `deliver`
sends the most overdue row with the municipality's HelseID client and records the attempt in the transaction
that holds the row's lock. Both are called by the interoperability worker (cloud/interop/runner.py) of every
process; rows are shared through the database, never through memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

import common
import common.i18n
from alerts.wording import AlertFacts, Names, Reader, describe_alert
from alerts.wording.outcomes import outcome_text
from cloud.access.directory import StaffIdentity, staff_identities
from cloud.evaluation.protocols import protocol_for
from cloud.interop import clients
from cloud.interop.fhir.load import implicated_observations, load_patient, reference_limits
from cloud.interop.fhir.observation import observation_resources
from cloud.interop.fhir.patient import patient_identifier
from cloud.interop.helseid import InteropError
from cloud.interop.vkp import journal
from cloud.interop.vkp.codes import CodeTable, document_name, mapping, severity_level
from cloud.interop.vkp.document import FollowUp, JournalInput, Person, journal_document
from cloud.interop.vkp.sender import Sent, post_document
from device_profiles.metrics import load_catalogue

log = logging.getLogger(__name__)
SWEEP_LIMIT = 50
COLOURS = {"red": "rød", "yellow": "gul"}
# The journal is written in bokmål, the language of the municipal record.
CLOSED_BY_ITSELF = "Lukket av seg selv: målingene er tilbake innenfor grensene."


@dataclass(frozen=True)
class Delivered:
    """What one delivery did."""

    alert_id: int
    sent: Sent


def solution_name() -> str:
    """How the documents name their author system."""
    return f"Tryggheim {common.VERSION}"


def _person(staff_id: UUID | None, people: dict[UUID, StaffIdentity]) -> Person | None:
    if staff_id is None:
        return None
    found = people.get(staff_id)
    if found is None:
        return Person(name="ukjent medarbeider", staff_id=str(staff_id))
    return Person(name=found.name, hpr_number=found.hpr_number, staff_id=str(staff_id))


async def _alert(conn: AsyncConnection[Any], alert_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """SELECT id, patient_id, rule, alert_class, severity, explanation, opened_at, acknowledged_at,
                  acknowledged_by, resolved_at, resolved_by, resolution, escalation->>'event_class' AS event_class
           FROM alerts WHERE id = %s""",
        (alert_id,),
    )
    row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def _follow_ups(conn: AsyncConnection[Any], alert_id: int) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """SELECT at, recorded_by AS by, outcome, note AS body FROM alert_outcomes WHERE alert_id = %(id)s
           UNION ALL
           SELECT created_at AS at, author AS by, NULL AS outcome, body FROM alert_comments WHERE alert_id = %(id)s
           ORDER BY at""",
        {"id": alert_id},
    )
    return list(await cur.fetchall())


def _follow_up_words(row: dict[str, Any], reader: Reader) -> str:
    said = outcome_text(row["outcome"], reader)
    body = (row["body"] or "").strip()
    return ": ".join(part for part in (said, body) if part)


async def _rule_shape(
    conn: AsyncConnection[Any], patient_id: UUID, rule: str
) -> tuple[str | None, tuple[str, ...], bool]:
    """The rule's detector, metrics and alarm flag from the patient's protocol (None when it no longer has it)."""
    found = (await protocol_for(conn, patient_id)).by_id().get(rule)
    if found is None:
        return None, (), False
    return found.spec.detector, found.metrics, found.alarm


async def build(
    conn: AsyncConnection[Any], candidate: journal.Candidate, table: CodeTable
) -> tuple[dict[str, Any], str] | None:
    """The document of a resolved alert and its VKP code; None when its kind is never journaled or the patient
    has no national identity number VKP could file it under."""
    alert = await _alert(conn, candidate.alert_id)
    detector, metrics, alarm = await _rule_shape(conn, candidate.patient_id, alert["rule"])
    name = document_name(
        table, rule=alert["rule"], detector=detector, metrics=metrics, alert_class=alert["alert_class"]
    )
    patient = await load_patient(conn, candidate.patient_id)
    identifier = patient_identifier(patient) if patient is not None else None
    if name is None or patient is None or identifier is None:
        return None
    reader = Reader("nb", common.i18n.translations("nb"))
    words = describe_alert(AlertFacts.of(alert), Names(patient=patient.display_name), reader)
    follow_rows = await _follow_ups(conn, candidate.alert_id)
    people = await staff_identities(
        conn, candidate.municipality_id,
        [alert["acknowledged_by"], alert["resolved_by"], *(r["by"] for r in follow_rows)],
    )  # fmt: skip
    observations = await implicated_observations(conn, candidate.alert_id)
    missing_loinc = None
    if name in ("missing_measurement", "missing_questionnaire") and metrics:
        missing_loinc = load_catalogue()[metrics[0]].loinc
    resolved_by = _person(alert["resolved_by"], people)
    closing = f"Lukket av {resolved_by.name}." if resolved_by else CLOSED_BY_ITSELF
    document = table.documents[name]
    alarm = alarm or alert["event_class"] == "alarm"
    facts = JournalInput(
        alert_id=candidate.alert_id, document=document, patient_identifier=identifier,
        title=words.title, sentence=words.sentence, severity=alert["severity"],
        severity_level=severity_level(table, severity=alert["severity"], alarm=alarm),
        colour=COLOURS.get(alert["severity"], alert["severity"]),
        opened_at=alert["opened_at"], acknowledged_at=alert["acknowledged_at"],
        acknowledged_by=_person(alert["acknowledged_by"], people), resolved_at=alert["resolved_at"],
        resolved_by=resolved_by, closing_words=closing,
        follow_ups=[FollowUp(r["at"], _person(r["by"], people), _follow_up_words(r, reader)) for r in follow_rows],
        observations=observation_resources(observations, patient, await reference_limits(conn, patient.id)),
        missing_loinc=missing_loinc,
        solution=solution_name(),
    )  # fmt: skip
    return journal_document(table, facts), document.code


async def sweep(conn: AsyncConnection[Any], *, now: datetime, window: timedelta) -> int:
    """Freeze the documents of alerts resolved within `window`, page by page, each in its own transaction;
    returns how many rows were added. An alert that is not journaled (its kind, or a patient without a national
    id) is logged and passed over, so it can never hold up the alerts resolved after it."""
    table = mapping()
    added, after = 0, None
    while True:
        found = await journal.candidates(
            conn, now=now, window=window, limit=SWEEP_LIMIT, after=after,
            skip_rules=table.platform_rules, skip_classes=table.skip_classes,
        )  # fmt: skip
        for candidate in found:
            async with conn.transaction():
                built = await build(conn, candidate, table)
                if built is None:
                    log.info("alert %s is not journaled (its kind, or no national id)", candidate.alert_id)
                    continue
                document, code = built
                added += await journal.add(conn, candidate, document=document, alert_code=code, now=now)
        if len(found) < SWEEP_LIMIT:
            return added
        after = (found[-1].resolved_at, found[-1].alert_id)


async def deliver(
    pool: AsyncConnectionPool, http: httpx.AsyncClient, *, now: datetime, process: str, backoff_s: float
) -> Delivered | None:
    """Send the most overdue journal row, holding its lock, and record the attempt; None when nothing is due."""
    table = mapping()
    async with pool.connection() as conn, conn.transaction():
        due = await journal.claim_due(conn, now=now)
        if due is None:
            return None
        sent = await _send(conn, due, http, table)
        await journal.record(
            conn, due, ok=sent.ok, status=sent.status, detail=sent.detail, process=process, now=now,
            backoff_s=backoff_s, receipt=sent.receipt,
        )  # fmt: skip
    if not sent.ok:
        log.warning("journaling alert %s failed: %s", due.alert_id, sent.detail)
    return Delivered(due.alert_id, sent)


async def _send(conn: AsyncConnection[Any], due: journal.Due, http: httpx.AsyncClient, table: CodeTable) -> Sent:
    try:
        found = await clients.connect(conn, due.municipality_id, "vkp", http=http)
    except InteropError as refused:
        return Sent(False, None, str(refused))
    if found is None:
        return Sent(False, None, "the municipality has no enabled VKP client")
    machine, base_url = found
    document = table.documents.get(_name_of(table, due.alert_code))
    return await post_document(
        machine, base_url=base_url, orgnr=due.orgnr, service_code=document.service_code if document else "dho",
        document=due.document,
    )  # fmt: skip


def _name_of(table: CodeTable, code: str) -> str:
    return next((name for name, document in table.documents.items() if document.code == code), "")
