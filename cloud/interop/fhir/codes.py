"""Code systems, identifier systems and the codings of a metric, read from the metric catalogue
(`device_profiles/metrics.yaml`: LOINC, extra LOINC, SNOMED CT, MDC and UCUM unit per metric, and the panels).

Identifier systems are HL7 Norway no-basis's OIDs; the code systems are those of the FHIR R4 vital-signs profiles,
VkpObservation and the Personal Health Device IG. Nothing here does I/O.
"""

from __future__ import annotations

from typing import Any, Final

from device_profiles.metrics import Metric, Panel, load_catalogue

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"
MDC: Final = "urn:iso:std:iso:11073:10101"
FNR_OID: Final = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR_OID: Final = "urn:oid:2.16.578.1.12.4.1.4.2"
HPR_OID: Final = "urn:oid:2.16.578.1.12.4.1.4.4"
ORGNR_OID: Final = "urn:oid:2.16.578.1.12.4.1.4.101"
KOMMUNENUMMER: Final = "https://register.geonorge.no/sosi-kodelister/kommunenummer"
# Our own identifier systems: the platform's patient, device and gateway ids (uuid) and the PHD IG
# de-duplication identifier of a device reading.
TRYGGHEIM: Final = "urn:tryggheim"
PATIENT_ID: Final = f"{TRYGGHEIM}:patient"
DEVICE_ID: Final = f"{TRYGGHEIM}:device"
OBSERVATION_ID: Final = f"{TRYGGHEIM}:observation"
PHD_IDENTIFIER: Final = f"{TRYGGHEIM}:phd-observation"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
REFERENCE_RANGE_MEANING: Final = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"
ACT_REASON: Final = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
DETECTED_ISSUE_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
TRYGGHEIM_RULE: Final = f"{TRYGGHEIM}:rule"
TRYGGHEIM_METRIC: Final = f"{TRYGGHEIM}:metric"
QUESTIONNAIRE_SCORE: Final = "74465-6"  # LOINC: Questionnaire score (VKP DHO Observation page)
SCORE_METRICS: Final = frozenset({"cat.score"})  # metrics that are a questionnaire's score
# IEEE 11073-10101 device specialisations (MDC_DEV_SPEC_PROFILE_*) of the catalogue's device families, and the
# personal health gateway (MDC_MOC_VMS_MDS_AHD), as the PHD IG types its Device resources.
DEVICE_TYPES: Final = {
    "sig_pulse_oximeter": (528388, "MDC_DEV_SPEC_PROFILE_PULS_OXIM"),
    "sig_blood_pressure": (528391, "MDC_DEV_SPEC_PROFILE_BPM"),
    "sig_thermometer": (528392, "MDC_DEV_SPEC_PROFILE_TEMP"),
    "sig_weight_scale": (528399, "MDC_DEV_SPEC_PROFILE_SCALE"),
    "xiaomi_scale": (528399, "MDC_DEV_SPEC_PROFILE_SCALE"),
    "sig_glucose": (528401, "MDC_DEV_SPEC_PROFILE_GLUCOSE"),
}
GATEWAY_TYPE: Final = (531981, "MDC_MOC_VMS_MDS_AHD")


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """One Coding."""
    found: dict[str, Any] = {"system": system, "code": code}
    if display:
        found["display"] = display
    return found


def metric(key: str) -> Metric:
    """The catalogue entry of a metric (KeyError for an unknown one)."""
    return load_catalogue()[key]


def panel(key: str) -> Panel:
    """A panel of the catalogue by its key (KeyError for an unknown one)."""
    return load_catalogue().panels[key]


def panel_of(key: str) -> Panel | None:
    """The panel a metric is a member of (blood pressure for systolic and diastolic), or None."""
    for panel in load_catalogue().panels.values():
        if key in panel.members:
            return panel
    return None


def metric_codings(key: str) -> list[dict[str, Any]]:
    """The codings of a metric in the order FHIR profiles slice them: LOINC, extra LOINC, SNOMED CT, MDC, and
    our own metric key when none of those exists (so every stored reading still has a code)."""
    entry = metric(key)
    found = [coding(LOINC, entry.loinc, entry.names.en)] if entry.loinc else []
    found += [coding(LOINC, extra) for extra in entry.loinc_extra]
    if entry.snomed:
        found.append(coding(SNOMED, entry.snomed, entry.names.en))
    if entry.mdc:
        found.append(coding(MDC, str(entry.mdc.code), entry.mdc.ref))
    return found or [coding(TRYGGHEIM_METRIC, key, entry.names.en)]


def panel_codings(panel: Panel) -> list[dict[str, Any]]:
    """The codings of a panel: LOINC, SNOMED CT, MDC."""
    found = [coding(LOINC, panel.loinc, panel.names.en)]
    if panel.snomed:
        found.append(coding(SNOMED, panel.snomed, panel.names.en))
    if panel.mdc:
        found.append(coding(MDC, str(panel.mdc.code), panel.mdc.ref))
    return found


def metrics_for_code(token: str) -> frozenset[str]:
    """The metric keys (and panel keys) a search token `system|code`, `code` or `|code` names: LOINC, SNOMED CT,
    MDC or our metric key; empty when none."""
    system, _, code = token.rpartition("|") if "|" in token else ("", "", token)
    found: set[str] = set()
    catalogue = load_catalogue()
    for key in catalogue.metrics:
        if any(_matches(c, system, code) for c in metric_codings(key)):
            found.add(key)
    for panel in catalogue.panels.values():
        if any(_matches(c, system, code) for c in panel_codings(panel)):
            found.update(panel.members)
    return frozenset(found)


def _matches(found: dict[str, Any], system: str, code: str) -> bool:
    return found["code"] == code and (not system or found["system"] == system)
