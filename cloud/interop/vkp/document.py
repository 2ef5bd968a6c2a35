"""The VKP DHO document for one resolved alert: a FHIR R4 `document` Bundle (pure: no clock, file or database).

What VKP's DHO guide asks for, one document per alert type, journaled when the alert is closed:
- a Composition (VKP Composition profile) first: the alert code as its type, the patient by identifier, the
  person who closed the alert as author, the alert's course as events (raised, taken, closed; the event codes
  of Norsk helsenett's sample bundle), and one section with the nurse's follow-up in words;
- a DetectedIssue (VKP profile): the VKP alert code, the patient, when it was identified, the solution as its
  author, R4 `severity` (high/moderate/low) with VKP's severity level (0-40) beside it and the colour in
  `detail`, the nurse's actions as `mitigation`, and `implicated`: the observations it rests on, or for a
  missing measurement the LOINC code of what was expected;
- the implicated Observations themselves.

Every `fullUrl` is a `urn:uuid` derived from the alert id, and the Bundle's identifier too, so a document sent
twice (a process died after VKP stored it) is recognisably the same document. References inside the document
point at these `urn:uuid`s or carry an identifier: a document must stand on its own in the receiving EPJ.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloud.interop.vkp.codes import CodeTable, Document

# Our namespace for the documents' stable ids (uuid5 of the alert id and the part).
_NAMESPACE = uuid.UUID("6b1f4b7e-2f55-4c1e-9f0b-3c3f5e6a7d21")
LOINC = "http://loinc.org"
HPR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.4"
STAFF_SYSTEM = "urn:tryggheim:staff"
BUNDLE_ID_SYSTEM = "urn:ietf:rfc:3986"
XHTML = "http://www.w3.org/1999/xhtml"
# Event codes of the VKP composition events as the VKP samples use them: raised, taken, closed.
EVENT_RAISED, EVENT_TAKEN, EVENT_CLOSED = "0", "1", "3"
SECTION_FOLLOW_UP = "2"
_R4_SEVERITY = {"red": "high", "yellow": "moderate"}


@dataclass(frozen=True)
class Person:
    """Someone who acted on the alert, as the record names them: HPR number when HelseID told us one."""

    name: str
    hpr_number: str | None = None
    staff_id: str | None = None


@dataclass(frozen=True)
class FollowUp:
    """One thing a person did or wrote about the alert (an outcome with its note, or a comment)."""

    at: datetime
    by: Person | None
    words: str


@dataclass(frozen=True)
class JournalInput:
    """Everything the document says, gathered by the journal service."""

    alert_id: int
    document: Document
    patient_identifier: dict[str, Any]
    title: str
    sentence: str
    severity: str
    severity_level: int
    colour: str
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: Person | None
    resolved_at: datetime
    resolved_by: Person | None
    closing_words: str
    follow_ups: Sequence[FollowUp]
    observations: Sequence[dict[str, Any]]
    missing_loinc: str | None
    solution: str


def document_id(alert_id: int, part: str = "bundle") -> str:
    """The stable `urn:uuid` of one part of an alert's document."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'tryggheim:vkp:{alert_id}:{part}')}"


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _person_reference(person: Person) -> dict[str, Any]:
    if person.hpr_number:
        return {"identifier": {"system": HPR_SYSTEM, "value": person.hpr_number}, "display": person.name}
    if person.staff_id:
        return {"identifier": {"system": STAFF_SYSTEM, "value": person.staff_id}, "display": person.name}
    return {"display": person.name}


def _div(paragraphs: Sequence[str]) -> str:
    body = "".join(f"<p>{html.escape(text)}</p>" for text in paragraphs if text)
    return f'<div xmlns="{XHTML}">{body or "<p>-</p>"}</div>'


def _self_contained(resource: dict[str, Any], subject: dict[str, Any], url: str) -> dict[str, Any]:
    """An Observation made for the API, rewritten for the document: the patient by identifier, no references
    to resources the document does not carry (device, other observations), kept by display where there is one."""
    out = {k: v for k, v in resource.items() if k not in ("subject", "device", "hasMember", "derivedFrom")}
    out["subject"] = subject
    device = resource.get("device")
    if isinstance(device, dict) and device.get("display"):
        out["device"] = {"display": device["display"]}
    out["id"] = url.removeprefix("urn:uuid:")
    return out


def _detected_issue(
    table: CodeTable, facts: JournalInput, subject: dict[str, Any], implicated: list[Any]
) -> dict[str, Any]:
    coding = {"system": table.code_system, "code": facts.document.code, "display": facts.document.display}
    mitigation = [
        {"action": {"text": follow_up.words}, "date": _instant(follow_up.at)}
        | ({"author": _person_reference(follow_up.by)} if follow_up.by else {})
        for follow_up in facts.follow_ups
    ]
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": document_id(facts.alert_id, "issue").removeprefix("urn:uuid:"),
        "meta": {"profile": [table.detected_issue_profile]},
        "extension": [
            {
                "url": table.severity_extension,
                "valueCoding": {"system": table.severity_system, "code": str(facts.severity_level)},
            }
        ],
        "status": "final",
        "code": {"coding": [coding], "text": facts.title},
        "severity": _R4_SEVERITY.get(facts.severity, "low"),
        "patient": subject,
        "identifiedDateTime": _instant(facts.opened_at),
        "author": {"display": facts.solution},
        "detail": facts.colour,
    }
    if implicated:
        issue["implicated"] = implicated
    if mitigation:
        issue["mitigation"] = mitigation
    return issue


def _events(table: CodeTable, facts: JournalInput) -> list[dict[str, Any]]:
    def event(code: str, at: datetime, by: Person | None) -> dict[str, Any]:
        concept: dict[str, Any] = {"coding": [{"system": table.composition_event_system, "code": code}]}
        if by is not None:
            concept["text"] = by.name
        return {"code": [concept], "period": {"start": _instant(at)}}

    events = [event(EVENT_RAISED, facts.opened_at, None)]
    if facts.acknowledged_at is not None:
        events.append(event(EVENT_TAKEN, facts.acknowledged_at, facts.acknowledged_by))
    events.append(event(EVENT_CLOSED, facts.resolved_at, facts.resolved_by))
    return events


def journal_document(table: CodeTable, facts: JournalInput) -> dict[str, Any]:
    """The document Bundle VKP journals for one resolved alert."""
    subject = {"identifier": facts.patient_identifier}
    observation_urls = [document_id(facts.alert_id, f"observation:{o.get('id')}") for o in facts.observations]
    implicated: list[Any] = [{"reference": url} for url in observation_urls]
    if facts.missing_loinc:
        implicated.append({"identifier": {"system": LOINC, "value": facts.missing_loinc}})
    issue_url = document_id(facts.alert_id, "issue")
    composition_url = document_id(facts.alert_id, "composition")
    author = _person_reference(facts.resolved_by) if facts.resolved_by else {"display": facts.solution}
    coding = {"system": table.code_system, "code": facts.document.code, "display": facts.document.display}
    composition = {
        "resourceType": "Composition",
        "id": composition_url.removeprefix("urn:uuid:"),
        "meta": {"profile": [table.composition_profile]},
        "status": "final",
        "type": {"coding": [coding], "text": facts.document.display},
        "subject": subject,
        "date": _instant(facts.resolved_at),
        "author": [author],
        "title": facts.title,
        "event": _events(table, facts),
        "section": [
            {
                "title": facts.document.display,
                "code": {"coding": [{"system": table.composition_section_system, "code": SECTION_FOLLOW_UP}]},
                "text": {
                    "status": "generated",
                    "div": _div([facts.sentence, *(f.words for f in facts.follow_ups), facts.closing_words]),
                },
                "entry": [{"reference": issue_url}, *({"reference": url} for url in observation_urls)],
            }
        ],
    }
    entries = [
        {"fullUrl": composition_url, "resource": composition},
        {"fullUrl": issue_url, "resource": _detected_issue(table, facts, subject, implicated)},
        *(
            {"fullUrl": url, "resource": _self_contained(resource, subject, url)}
            for url, resource in zip(observation_urls, facts.observations, strict=True)
        ),
    ]
    return {
        "resourceType": "Bundle",
        "id": document_id(facts.alert_id).removeprefix("urn:uuid:"),
        "identifier": {"system": BUNDLE_ID_SYSTEM, "value": document_id(facts.alert_id)},
        "type": "document",
        "timestamp": _instant(facts.resolved_at),
        "entry": entries,
    }
