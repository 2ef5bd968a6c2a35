"""Observation: one stored reading per the FHIR R4 vital-signs profiles, VkpObservation and the Personal Health
Device IG; blood pressure as one panel.

- id: the `observations` row id; a blood-pressure panel (systolic and diastolic of the same device, or of the same
  visit, at the same time) takes the systolic row's id, and the diastolic row has no resource of its own.
- code: LOINC, extra LOINC (SpO2 59408-5), SNOMED CT and MDC from the metric catalogue; a panel has the panel's
  codes and one component per member, with no top-level value.
- subject: the reference and the national identifier; performer: the municipality (organisation number), the
  responsible organisation of VkpObservation.
- device readings: `device` (the Device, whose `parent` is the gateway) and the PHD IG de-duplication identifier
  `device-patient-type-timestamp` on the device's own clock (the gateway's when the device sent none).
- interpretation and referenceRange: from the limits of the patient's threshold rules in force (personal limits
  included): green is the `normal` range, yellow a second range; N, H/L (yellow) or HH/LL (red).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from cloud.interop.fhir import codes
from cloud.interop.fhir.facts import ObservationFacts, PatientFacts, ReferenceLimits
from cloud.interop.fhir.patient import organisation_reference, patient_reference, test_label
from device_profiles.metrics import Panel

_CATEGORIES: Final = {"vital": ("vital-signs", "Vital Signs"), "ordinal": ("survey", "Survey"),
                      "event": ("activity", "Activity"), "state": ("activity", "Activity")}  # fmt: skip
_FLAGS: Final = {"N": "Normal", "H": "High", "L": "Low", "HH": "Critical high", "LL": "Critical low"}


def observation_reference(observation: ObservationFacts) -> dict[str, Any]:
    """A reference to the Observation a reading is part of (a diastolic reading: the panel, which carries the
    systolic row's id only when the caller knows it; here the reading's own id)."""
    return {"reference": f"Observation/{observation.id}"}


def observation_resources(
    observations: Sequence[ObservationFacts],
    patient: PatientFacts,
    ranges: Mapping[str, ReferenceLimits] | None = None,
) -> list[dict[str, Any]]:
    """The Observations of these readings of one patient, in the order given; systolic and diastolic readings of
    the same device (or visit) and time become one blood-pressure panel at the systolic reading's place."""
    limits = ranges or {}
    grouped = _panels(observations)
    resources: list[dict[str, Any]] = []
    for reading in observations:
        members = grouped.get(reading.id)
        if members is None:
            resources.append(_single(reading, patient, limits))
        elif members:
            resources.append(_panel(members, patient, limits))
    return resources


def _panels(observations: Sequence[ObservationFacts]) -> dict[int, tuple[ObservationFacts, ...]]:
    """Row id -> the panel's readings (member order) for the first member, () for the others."""
    found: dict[int, tuple[ObservationFacts, ...]] = {}
    slots: dict[tuple[str, object, object, str], dict[str, ObservationFacts]] = {}
    for reading in observations:
        panel = codes.panel_of(reading.metric)
        if panel is not None:
            key = (panel.key, reading.device_id, reading.t, reading.source)
            slots.setdefault(key, {}).setdefault(reading.metric, reading)
    for (panel_key, *_), members in slots.items():
        panel = codes.panel(panel_key)
        if set(members) != set(panel.members):
            continue  # an incomplete panel: each reading stands alone
        ordered = tuple(members[key] for key in panel.members)
        found[ordered[0].id] = ordered
        found.update({other.id: () for other in ordered[1:]})
    return found


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": codes.UCUM, "code": unit}


def _flag(code: str) -> list[dict[str, Any]]:
    return [{"coding": [codes.coding(codes.INTERPRETATION, code, _FLAGS[code])]}]


def _interpretation(value: float, limits: ReferenceLimits) -> str:
    rank = limits.rank(value)
    if rank == 0:
        return "N"
    high = limits.green_high is not None and value > limits.green_high
    return ("H" if high else "L") * rank


def _ranges(limits: ReferenceLimits, unit: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for low, high, text, meaning in (
        (limits.green_low, limits.green_high, "green: no alert", "normal"),
        (limits.yellow_low, limits.yellow_high, "yellow: outside it red", None),
    ):
        if low is None and high is None:
            continue
        entry: dict[str, Any] = {"text": text}
        if low is not None:
            entry["low"] = _quantity(low, unit)
        if high is not None:
            entry["high"] = _quantity(high, unit)
        if meaning:
            entry["type"] = {"coding": [codes.coding(codes.REFERENCE_RANGE_MEANING, meaning, "Normal Range")]}
        found.append(entry)
    return found


def _judged(reading: ObservationFacts, limits: Mapping[str, ReferenceLimits]) -> dict[str, Any]:
    own = limits.get(reading.metric)
    if own is None:
        return {}
    return {"interpretation": _flag(_interpretation(reading.value, own)), "referenceRange": _ranges(own, reading.unit)}


def _value(reading: ObservationFacts) -> dict[str, Any]:
    label = (reading.context or {}).get("label")
    if codes.metric(reading.metric).levels is not None and isinstance(label, str):
        return {"valueString": label}
    return {"valueQuantity": _quantity(reading.value, reading.unit)}


def phd_identifier(reading: ObservationFacts, mdc_code: int | str) -> dict[str, Any] | None:
    """The PHD IG de-duplication identifier `device-patient-type-timestamp` (device clock, else gateway's), or
    None for a reading entered by hand."""
    if reading.device_id is None:
        return None
    stamp = (reading.measured_at or reading.received_at).isoformat()
    return {"system": codes.PHD_IDENTIFIER, "value": f"{reading.device_id}-{reading.patient_id}-{mdc_code}-{stamp}"}


def _common(
    reading: ObservationFacts, patient: PatientFacts, kind: str, code: list[dict[str, Any]], mdc: int | str
) -> dict[str, Any]:
    identifiers = [{"system": codes.OBSERVATION_ID, "value": str(reading.id)}]
    phd = phd_identifier(reading, mdc)
    if phd is not None:
        identifiers.append(phd)
    resource: dict[str, Any] = {"resourceType": "Observation", "id": str(reading.id), "identifier": identifiers,
                                "status": "final"}  # fmt: skip
    meta = test_label(patient)
    if meta is not None:
        resource["meta"] = meta
    category = _CATEGORIES.get(kind)
    if category is not None:
        resource["category"] = [{"coding": [codes.coding(codes.OBSERVATION_CATEGORY, *category)]}]
    resource.update(code={"coding": code}, subject=patient_reference(patient),
                    effectiveDateTime=reading.t.isoformat(), performer=[organisation_reference(patient)])  # fmt: skip
    if reading.device_id is not None:
        resource["device"] = {"reference": f"Device/{reading.device_id}"}
    return resource


def _single(reading: ObservationFacts, patient: PatientFacts, limits: Mapping[str, ReferenceLimits]) -> dict[str, Any]:
    entry = codes.metric(reading.metric)
    mdc = entry.mdc.code if entry.mdc else reading.metric
    code = codes.metric_codings(reading.metric)
    if reading.metric in codes.SCORE_METRICS:
        code.insert(0, codes.coding(codes.LOINC, codes.QUESTIONNAIRE_SCORE, "Questionnaire score"))
    resource = _common(reading, patient, entry.kind, code, mdc)
    resource.update(_value(reading))
    resource.update(_judged(reading, limits))
    return resource


def _panel(
    members: tuple[ObservationFacts, ...], patient: PatientFacts, limits: Mapping[str, ReferenceLimits]
) -> dict[str, Any]:
    panel: Panel | None = codes.panel_of(members[0].metric)
    assert panel is not None  # _panels grouped them by it
    mdc = panel.mdc.code if panel.mdc else panel.key
    resource = _common(members[0], patient, "vital", codes.panel_codings(panel), mdc)
    resource["component"] = [
        {
            "code": {"coding": codes.metric_codings(m.metric)},
            "valueQuantity": _quantity(m.value, m.unit),
            **_judged(m, limits),
        }
        for m in members
    ]
    return resource
