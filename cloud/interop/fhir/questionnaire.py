"""QuestionnaireResponse: the patient's own answers to the questions of the day (and the week's COPD Assessment
Test), which `cloud.ingest.self_report` stores as readings with the patient as their author. One response per
answering (the readings stored together, one time); its id is the smallest row id of those readings. A CAT total
is also the score Observation (LOINC 74465-6, `derivedFrom` the response), with the reading's own id."""

from __future__ import annotations

from typing import Any, Final

from cloud.ingest.self_report import DAILY, WEEKLY_METRIC
from cloud.interop.fhir import codes
from cloud.interop.fhir.facts import AnswerFacts, PatientFacts
from cloud.interop.fhir.observation import observation_resources
from cloud.interop.fhir.patient import patient_reference, test_label

QUESTIONNAIRE: Final = "urn:tryggheim:questionnaire:own-answers"
ANSWER_METRICS: Final = frozenset({*DAILY.values(), WEEKLY_METRIC})  # what the patient answers themselves
CAT_ITEMS_KEY: Final = "cat_items"  # where the CAT's eight answers are kept in a reading's context


def response_id(answers: AnswerFacts) -> str:
    """The stable id of the response: the smallest row id of its readings."""
    return str(min(reading.id for reading in answers.readings))


def _item(metric: str, value: float, context: dict[str, Any] | None) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": metric, "text": codes.metric(metric).names.en,
                            "answer": [{"valueInteger": int(value)}]}  # fmt: skip
    answers = (context or {}).get(CAT_ITEMS_KEY)
    if isinstance(answers, list):
        item["answer"][0]["item"] = [
            {"linkId": f"{metric}.{n}", "answer": [{"valueInteger": int(a)}]}
            for n, a in enumerate(answers, start=1)
            if isinstance(a, int | float)
        ]
    return item


def questionnaire_response(answers: AnswerFacts, patient: PatientFacts) -> dict[str, Any]:
    """The QuestionnaireResponse of one answering."""
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": response_id(answers),
        "questionnaire": QUESTIONNAIRE,
        "status": "completed",
        "subject": patient_reference(patient),
        "source": {"reference": f"Patient/{patient.id}"},
        "authored": answers.authored.isoformat(),
        "item": [_item(r.metric, r.value, r.context) for r in answers.readings],
    }
    meta = test_label(patient)
    if meta is not None:
        resource["meta"] = meta
    return resource


def score_observations(answers: AnswerFacts, patient: PatientFacts) -> list[dict[str, Any]]:
    """The score Observations of an answering (LOINC 74465-6; the CAT total), derived from its response."""
    scored = [r for r in answers.readings if r.metric in codes.SCORE_METRICS]
    resources = observation_resources(scored, patient)
    for resource in resources:
        resource["derivedFrom"] = [{"reference": f"QuestionnaireResponse/{response_id(answers)}"}]
    return resources
