"""The PMD batch Bundle (VkpBundleObservation: type batch, a unique fullUrl per entry) and the matching of PMD's
per-entry answers by fullUrl."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.bundle import Bundle

from cloud.interop.pmd.batch import ID_SYSTEM, batch_bundle, entry, full_url, read_answer

FNR = {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "13116900216"}


def _pulse(observation_id: int, identifier: list[dict[str, str]] | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": str(observation_id), "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/1"}, "device": {"reference": "Device/2"},
        "effectiveDateTime": "2026-12-01T07:00:00+00:00",
        "valueQuantity": {"value": 71, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }  # fmt: skip
    if identifier:
        resource["identifier"] = identifier
    return resource


def test_batch_bundle_shape() -> None:
    phd = [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:phd-1"}]
    entries = [entry(7, _pulse(7, phd), {"identifier": FNR}), entry(8, _pulse(8), {"identifier": FNR})]
    bundle = batch_bundle(entries, municipality_number="4601")
    Bundle.model_validate(bundle)
    assert bundle["type"] == "batch"
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert urls == [full_url(7), full_url(8)] and len(set(urls)) == 2
    first, second = (e["resource"] for e in bundle["entry"])
    assert first["subject"] == {"identifier": FNR} and "device" not in first and "id" not in first
    assert first["identifier"] == phd, "a device reading keeps its PHD identifier"
    assert second["identifier"] == [{"system": ID_SYSTEM, "value": full_url(8)}], "else one is made, stable"
    assert bundle["entry"][0]["request"] == {
        "method": "POST", "url": "Observation", "ifNoneExist": "identifier=urn:ietf:rfc:3986|urn:uuid:phd-1"
    }  # fmt: skip
    assert bundle["meta"]["tag"][0]["code"] == "4601"


def test_answers_match_by_full_url_not_by_order() -> None:
    entries = [entry(i, _pulse(i), {"identifier": FNR}) for i in (1, 2, 3)]
    refusal = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid",
                                                             "diagnostics": "unknown person"}]}  # fmt: skip
    answer = {
        "resourceType": "Bundle", "type": "batch-response",
        "entry": [
            {"fullUrl": full_url(3), "response": {"status": "201 Created"}},
            {"fullUrl": full_url(1), "response": {"status": "400 Bad Request", "outcome": refusal}},
        ],
    }  # fmt: skip
    results = {r.full_url: r for r in read_answer(entries, answer)}
    assert results[full_url(3)].ok
    assert not results[full_url(1)].ok and results[full_url(1)].detail == "unknown person"
    assert not results[full_url(2)].ok and "does not mention" in results[full_url(2)].detail


def test_an_answer_that_is_not_a_batch_response_shares_nothing() -> None:
    entries = [entry(1, _pulse(1), {"identifier": FNR})]
    for answer in (None, "ok", {"resourceType": "OperationOutcome"}, {"resourceType": "Bundle", "type": "searchset"}):
        assert [r.ok for r in read_answer(entries, answer)] == [False]
