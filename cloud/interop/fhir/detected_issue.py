"""DetectedIssue: an alert or a worsening episode (rule `episode.clinical`), with the Observations it rests on as
`implicated` and what the nurse did about it (`alert_outcomes`) as `mitigation`. Id: the `alerts` row id.

Severity: red is `high`, yellow `moderate`. Status: `final` once resolved, `preliminary` while open. The code is
the rule that raised it (`urn:tryggheim:rule`); VKP's alert codes are the journal's business (cloud.interop.vkp).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from cloud.interop.fhir import codes
from cloud.interop.fhir.facts import AlertFacts, PatientFacts
from cloud.interop.fhir.patient import patient_reference, test_label

SEVERITY: Final = {"red": "high", "yellow": "moderate"}
OUTCOME_SYSTEM: Final = f"{codes.TRYGGHEIM}:alert-outcome"
AUTHOR: Final = "Tryggheim"


def _mitigations(alert: AlertFacts) -> list[dict[str, Any]]:
    found = []
    for note in alert.outcomes:
        action: dict[str, Any] = {"coding": [codes.coding(OUTCOME_SYSTEM, note.outcome)]}
        if note.note:
            action["text"] = note.note
        found.append({"action": action, "date": note.at.isoformat()})
    return found


def detected_issue_resource(alert: AlertFacts, patient: PatientFacts, implicated: Sequence[str]) -> dict[str, Any]:
    """The DetectedIssue of an alert or episode; `implicated` are references (`Observation/<id>`) to the
    Observations it rests on."""
    resource: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": str(alert.id),
        "identifier": [{"system": f"{codes.TRYGGHEIM}:alert", "value": str(alert.id)}],
        "status": "final" if alert.state == "resolved" else "preliminary",
        "code": {"coding": [codes.coding(codes.TRYGGHEIM_RULE, alert.rule)], "text": alert.alert_class},
        "severity": SEVERITY[alert.severity],
        "patient": patient_reference(patient),
        "identifiedDateTime": alert.opened_at.isoformat(),
        "author": {"display": AUTHOR},
        "detail": alert.message,
    }
    if implicated:
        resource["implicated"] = [{"reference": ref} for ref in dict.fromkeys(implicated)]
    mitigations = _mitigations(alert)
    if alert.resolved_at is not None and alert.resolution:
        mitigations.append({"action": {"text": alert.resolution}, "date": alert.resolved_at.isoformat()})
    if mitigations:
        resource["mitigation"] = mitigations
    meta = test_label(patient)
    if meta is not None:
        resource["meta"] = meta
    return resource
