"""Patient: the national identity number (fødselsnummer or D-number, check digits validated), the name as the
platform holds it, and the municipality as managing organisation (organisation number, kommunenummer).

Synthetic test numbers (month + 40 or + 80: NAV's and Skatteetaten's test persons, H-numbers) have no OID of their
own. They are sent under the fødselsnummer system, as the national test environments expect, with the resource
labelled `HTEST` (v3-ActReason, "test health data") in `meta.security`, so no receiver takes them for a person.
"""

from __future__ import annotations

from typing import Any, Final

from cloud.interop.fhir import codes
from cloud.interop.fhir.facts import PatientFacts
from cloud.registry.identity import IdentifierError, national_id, organisation_number

_SYSTEMS: Final = {"fnr": codes.FNR_OID, "dnr": codes.DNR_OID, "synthetic": codes.FNR_OID}
# Patient.active: a patient still followed (referral to paused); discharged and deceased are not.
_ACTIVE: Final = frozenset({"referral", "trial", "active", "paused"})
HTEST: Final = {"system": codes.ACT_REASON, "code": "HTEST", "display": "test health data"}


def patient_identifier(patient: PatientFacts) -> dict[str, Any] | None:
    """The national identifier of the patient (system FNR or DNR OID), or None when there is none or it fails
    the check digits (R-FHIR-6: never sent unchecked). A synthetic number is checked as one and sent under FNR."""
    if patient.national_id is None or patient.national_id_kind is None:
        return None
    try:
        checked = national_id(patient.national_id, allow_synthetic=patient.national_id_kind == "synthetic")
    except IdentifierError:
        return None
    return {"use": "official", "system": _SYSTEMS[checked.kind], "value": checked.number}


def organisation_identifier(patient: PatientFacts) -> dict[str, Any] | None:
    """The municipality's organisation number (ENH, system `...4.1.4.101`), or None when unknown or invalid."""
    if patient.municipality_orgnr is None:
        return None
    try:
        return {"system": codes.ORGNR_OID, "value": organisation_number(patient.municipality_orgnr)}
    except IdentifierError:
        return None


def organisation_reference(patient: PatientFacts) -> dict[str, Any]:
    """A logical reference to the patient's municipality: its organisation number where valid, else its
    kommunenummer."""
    identifier = organisation_identifier(patient) or {"system": codes.KOMMUNENUMMER, "value": patient.kommunenummer}
    return {"identifier": identifier, "display": patient.municipality_name}


def patient_reference(patient: PatientFacts) -> dict[str, Any]:
    """A reference to the patient: the resource (`Patient/<id>`) and the national identifier where there is one
    (VkpObservation requires `subject.identifier`)."""
    found: dict[str, Any] = {"reference": f"Patient/{patient.id}"}
    identifier = patient_identifier(patient)
    if identifier is not None:
        found["identifier"] = {"system": identifier["system"], "value": identifier["value"]}
    return found


def test_label(patient: PatientFacts) -> dict[str, Any] | None:
    """`meta` with the HTEST security label for a synthetic person, None otherwise."""
    return {"security": [HTEST]} if patient.national_id_kind == "synthetic" else None


def patient_resource(patient: PatientFacts) -> dict[str, Any]:
    """The Patient resource; its id is the platform's patient id."""
    identifiers = [{"system": codes.PATIENT_ID, "value": str(patient.id)}]
    national = patient_identifier(patient)
    if national is not None:
        identifiers.insert(0, national)
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient.id),
        "identifier": identifiers,
        "active": patient.lifecycle in _ACTIVE,
        "name": [{"use": "usual", "text": patient.display_name}],
        "managingOrganization": organisation_reference(patient),
    }
    if patient.lifecycle == "deceased":
        resource["deceasedBoolean"] = True
    meta = test_label(patient)
    if meta is not None:
        resource["meta"] = meta
    return resource
