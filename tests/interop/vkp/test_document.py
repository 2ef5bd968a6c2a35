"""The VKP document of one resolved alert: a FHIR R4 document Bundle that fhir.resources (R4B) and fhirclient
both read, with the VKP codes, the patient by identifier and self-contained references."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhirclient.models.bundle import Bundle as ClientBundle

from cloud.interop.vkp.codes import mapping
from cloud.interop.vkp.document import FollowUp, JournalInput, Person, document_id, journal_document

FNR = {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "13116900216"}
AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _weight(observation_id: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": str(observation_id),
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "Patient/6f0b", "identifier": FNR},
        "device": {"reference": "Device/aa", "display": "A&D UC-352BLE"},
        "effectiveDateTime": "2026-12-01T07:00:00+00:00",
        "valueQuantity": {"value": 84.2, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    }


def _facts(
    name: str, *, observations: list[dict[str, Any]], missing: str | None = None, by: Person | None = None
) -> JournalInput:
    nurse = Person("Nina Nilsen", hpr_number="181000001", staff_id="5a2d")
    return JournalInput(
        alert_id=42, document=mapping().documents[name], patient_identifier=FNR, title="Vekt opp over 2 kg på 3 dager",
        sentence="Vekten har steget 2,4 kg <siden> mandag.", severity="yellow", severity_level=20, colour="gul",
        opened_at=AT, acknowledged_at=AT.replace(hour=9), acknowledged_by=nurse, resolved_at=AT.replace(hour=10),
        resolved_by=by, closing_words="Lukket av Nina Nilsen.",
        follow_ups=[FollowUp(AT.replace(hour=9, minute=30), nurse, "Løst på telefon: dobbel dose vanndrivende")],
        observations=observations, missing_loinc=missing, solution="Tryggheim 0.1.0",
    )  # fmt: skip


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_measurement_alert_document() -> None:
    nurse = Person("Nina Nilsen", hpr_number="181000001")
    bundle = journal_document(mapping(), _facts("measurement", observations=[_weight(17)], by=nurse))
    Bundle.model_validate(bundle)
    ClientBundle(bundle)
    assert bundle["type"] == "document"
    assert bundle["identifier"]["value"] == document_id(42)
    assert bundle["entry"][0]["resource"]["resourceType"] == "Composition"
    composition = bundle["entry"][0]["resource"]
    assert composition["meta"]["profile"] == ["http://ehelse.no/fhir/StructureDefinition/vkp-Composition-v090"]
    coding = composition["type"]["coding"][0]
    assert coding["system"] == "http://ehelse.no/fhir/CodeSystem/vkp-alert-code-v090"
    assert (coding["code"], coding["display"]) == ("5.2.1", "Måling rapportert")
    assert composition["subject"] == {"identifier": FNR}
    assert composition["author"] == [{"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.4", "value": "181000001"},
                                      "display": "Nina Nilsen"}]  # fmt: skip
    assert [e["code"][0]["coding"][0]["code"] for e in composition["event"]] == ["0", "1", "3"]
    div = composition["section"][0]["text"]["div"]
    assert "dobbel dose vanndrivende" in div and "&lt;siden&gt;" in div, "the note is in the text, escaped"
    (issue,) = _resources(bundle, "DetectedIssue")
    assert issue["code"]["coding"][0]["code"] == "5.2.1"
    assert issue["severity"] == "moderate" and issue["detail"] == "gul"
    assert issue["extension"][0]["valueCoding"]["code"] == "20"
    assert issue["patient"] == {"identifier": FNR}
    assert issue["author"] == {"display": "Tryggheim 0.1.0"}
    (observation,) = _resources(bundle, "Observation")
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert issue["implicated"] == [{"reference": document_id(42, "observation:17")}]
    assert {r["reference"] for r in composition["section"][0]["entry"]} <= urls
    assert observation["subject"] == {"identifier": FNR}, "no reference to a Patient the document does not carry"
    assert observation["device"] == {"display": "A&D UC-352BLE"}


def test_missing_measurement_implicates_the_loinc_code() -> None:
    bundle = journal_document(mapping(), _facts("missing_measurement", observations=[], missing="29463-7"))
    Bundle.model_validate(bundle)
    (issue,) = _resources(bundle, "DetectedIssue")
    assert issue["code"]["coding"][0]["code"] == "5.3.2"
    assert issue["implicated"] == [{"identifier": {"system": "http://loinc.org", "value": "29463-7"}}]
    assert _resources(bundle, "Observation") == []


def test_an_alert_closed_by_itself_is_authored_by_the_solution() -> None:
    bundle = journal_document(mapping(), _facts("measurement", observations=[_weight(3)], by=None))
    composition = bundle["entry"][0]["resource"]
    assert composition["author"] == [{"display": "Tryggheim 0.1.0"}]
    assert "text" not in composition["event"][-1]["code"][0]


def test_ids_are_stable_so_a_repeat_is_recognisable() -> None:
    first = journal_document(mapping(), _facts("measurement", observations=[_weight(17)]))
    again = journal_document(mapping(), _facts("measurement", observations=[_weight(17)]))
    assert first == again
    assert len({e["fullUrl"] for e in first["entry"]}) == len(first["entry"])
