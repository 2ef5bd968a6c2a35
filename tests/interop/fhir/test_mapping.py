"""The pure mappings: codes, identifiers, the blood-pressure panel and units, asserted field by field, and every
resource kind valid under fhir.resources R4B and fhirclient."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

from alerts.thresholds import Limits
from cloud.interop.fhir import codes
from cloud.interop.fhir.detected_issue import detected_issue_resource
from cloud.interop.fhir.device import device_resource
from cloud.interop.fhir.facts import AlertFacts, AnswerFacts, DeviceFacts, ObservationFacts, OutcomeNote, PatientFacts
from cloud.interop.fhir.observation import observation_resources
from cloud.interop.fhir.outcome import for_status
from cloud.interop.fhir.patient import patient_identifier, patient_resource
from cloud.interop.fhir.questionnaire import questionnaire_response, score_observations
from tests.interop.fhir.validate import valid

T = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
PATIENT = PatientFacts(uuid4(), "15076500565", "fnr", "Kari Nordmann", "974760673", "0301", "Oslo", "active")
DEVICE, GATEWAY = uuid4(), uuid4()


def _reading(n: int, metric: str, value: float, unit: str, device: bool = True) -> ObservationFacts:
    return ObservationFacts(n, PATIENT.id, DEVICE if device else None, GATEWAY if device else None,
                            "omron-evolv-hem-7600t" if device else None, metric, value, unit, T, T if device else None,
                            T, "gateway" if device else "manual")  # fmt: skip


def _codings(resource: dict[str, object]) -> set[tuple[str, str]]:
    code = resource["code"]
    assert isinstance(code, dict)
    return {(c["system"], c["code"]) for c in code["coding"]}


def test_blood_pressure_is_one_panel_with_two_components_and_no_value() -> None:
    readings = [_reading(10, "bp.systolic", 150, "mm[Hg]"), _reading(11, "bp.diastolic", 92, "mm[Hg]")]
    limits = {"bp.systolic": Limits(green_low=111, green_high=140, yellow_low=91, yellow_high=219)}
    [panel] = [valid(r) for r in observation_resources(readings, PATIENT, limits)]
    assert panel["id"] == "10"  # the systolic row's id
    assert {(codes.LOINC, "85354-9"), (codes.SNOMED, "75367002"), (codes.MDC, "150020")} <= _codings(panel)
    assert not any(key.startswith("value") for key in panel)
    systolic, diastolic = panel["component"]
    assert (codes.LOINC, "8480-6") in _codings(systolic) and (codes.SNOMED, "271649006") in _codings(systolic)
    assert (codes.LOINC, "8462-4") in _codings(diastolic) and (codes.MDC, "150022") in _codings(diastolic)
    assert systolic["valueQuantity"] == {"value": 150, "unit": "mm[Hg]", "system": codes.UCUM, "code": "mm[Hg]"}
    assert systolic["interpretation"][0]["coding"][0]["code"] == "H"
    assert systolic["referenceRange"][0]["high"]["value"] == 140
    assert "interpretation" not in diastolic  # no limits for diastolic in this protocol
    assert panel["category"][0]["coding"][0]["code"] == "vital-signs"
    assert panel["effectiveDateTime"] == "2026-11-02T08:00:00+00:00"
    assert panel["device"] == {"reference": f"Device/{DEVICE}"}
    phd = [i["value"] for i in panel["identifier"] if i["system"] == codes.PHD_IDENTIFIER]
    assert phd == [f"{DEVICE}-{PATIENT.id}-150020-2026-11-02T08:00:00+00:00"]


def test_a_lone_systolic_reading_stands_alone() -> None:
    [single] = observation_resources([_reading(12, "bp.systolic", 130, "mm[Hg]")], PATIENT)
    assert (codes.LOINC, "8480-6") in _codings(valid(single))
    assert single["valueQuantity"]["code"] == "mm[Hg]"


def test_vital_sign_codes_and_ucum_units() -> None:
    expected = {
        "spo2": ({(codes.LOINC, "2708-6"), (codes.LOINC, "59408-5"), (codes.SNOMED, "431314004")}, "%"),
        "body.weight": ({(codes.LOINC, "29463-7"), (codes.SNOMED, "27113001")}, "kg"),
        "body.temperature": ({(codes.LOINC, "8310-5"), (codes.MDC, "150364")}, "Cel"),
        "resp.rate": ({(codes.LOINC, "9279-1"), (codes.SNOMED, "271625008")}, "/min"),
        "blood.glucose": ({(codes.LOINC, "15074-8"), (codes.SNOMED, "434912009")}, "mmol/L"),
    }
    readings = [_reading(n, metric, 50, unit, device=False) for n, (metric, (_, unit)) in enumerate(expected.items())]
    for resource, (metric, (wanted, unit)) in zip(
        observation_resources(readings, PATIENT), expected.items(), strict=True
    ):
        assert wanted <= _codings(valid(resource)), metric
        assert resource["valueQuantity"]["system"] == codes.UCUM and resource["valueQuantity"]["code"] == unit
        assert "device" not in resource and len(resource["identifier"]) == 1  # entered by hand: no PHD identifier
        assert resource["subject"]["identifier"] == {"system": codes.FNR_OID, "value": "15076500565"}
        assert resource["performer"][0]["identifier"] == {"system": codes.ORGNR_OID, "value": "974760673"}
    assert "29563-7" not in str(observation_resources(readings, PATIENT))


def test_spo2_interpretation_critical_low() -> None:
    [spo2] = observation_resources(
        [_reading(1, "spo2", 90, "%")], PATIENT, {"spo2": Limits(green_low=96, yellow_low=92)}
    )
    assert spo2["interpretation"][0]["coding"][0]["code"] == "LL"
    assert [r.get("low", {}).get("value") for r in spo2["referenceRange"]] == [96, 92]


def test_patient_identifiers_are_checked_before_use() -> None:
    resource = valid(patient_resource(PATIENT))
    assert resource["identifier"][0] == {"use": "official", "system": codes.FNR_OID, "value": "15076500565"}
    assert resource["managingOrganization"]["identifier"]["system"] == codes.ORGNR_OID
    assert patient_identifier(replace(PATIENT, national_id="15076500566")) is None  # wrong check digit
    assert patient_identifier(replace(PATIENT, national_id="55076510007", national_id_kind="dnr")) == {
        "use": "official", "system": codes.DNR_OID, "value": "55076510007"}  # fmt: skip
    synthetic = replace(PATIENT, national_id="15476510187", national_id_kind="synthetic")
    test_person = valid(patient_resource(synthetic))
    assert test_person["identifier"][0]["system"] == codes.FNR_OID
    assert test_person["meta"]["security"][0]["code"] == "HTEST"
    assert patient_identifier(replace(PATIENT, national_id=None, national_id_kind=None)) is None


def test_device_gateway_detected_issue_answers_and_outcome_validate() -> None:
    device = valid(device_resource(DeviceFacts(DEVICE, "omron-evolv-hem-7600t", "SN-1", "AA", GATEWAY), PATIENT))
    assert device["type"]["coding"][0] == {"system": codes.MDC, "code": "528391", "display": "MDC_DEV_SPEC_PROFILE_BPM"}
    assert device["parent"] == {"reference": f"Device/{GATEWAY}"}
    gateway = valid(device_resource(DeviceFacts(GATEWAY, None, None, None, None, is_gateway=True)))
    assert gateway["type"]["coding"][0]["code"] == "531981"
    alert = AlertFacts(5, PATIENT.id, "ge.news2", "clinical", "red", "resolved", T, T, "NEWS2 7",
                       resolution="handled", outcomes=(OutcomeNote("on_site", T, "visited"),))  # fmt: skip
    issue = valid(detected_issue_resource(alert, PATIENT, ["Observation/1", "Observation/1", "Observation/2"]))
    assert issue["severity"] == "high" and issue["status"] == "final"
    assert issue["implicated"] == [{"reference": "Observation/1"}, {"reference": "Observation/2"}]
    assert issue["mitigation"][0]["action"]["text"] == "visited"
    answers = AnswerFacts(PATIENT.id, T, (_reading(7, "symptom.dyspnoea", 2, "{score}", False),
                                          replace(_reading(8, "cat.score", 12, "{score}", False),
                                                  context={"cat_items": [2, 2, 1, 1, 2, 1, 2, 1]})))  # fmt: skip
    response = valid(questionnaire_response(answers, PATIENT))
    assert response["id"] == "7" and response["item"][1]["answer"][0]["valueInteger"] == 12
    [score] = [valid(s) for s in score_observations(answers, PATIENT)]
    assert (codes.LOINC, "74465-6") in _codings(score)
    assert score["derivedFrom"] == [{"reference": "QuestionnaireResponse/7"}]
    assert valid(for_status(404, "No such patient."))["issue"][0]["code"] == "not-found"
