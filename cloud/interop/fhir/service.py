"""The `/fhir/` read API's service: searches and reads answered as FHIR resources and searchset Bundles, and the
patient's export (NDJSON). Between the routes (`cloud/api/fhir.py`, which hold the access policy) and the reads
(`load.py`). Who may see what is decided by the policy before a function here runs; these functions are given
the patients the caller may see."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final
from urllib.parse import urlencode
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from cloud.access import audit
from cloud.access.policy import PatientGrant, PatientScopeFilter
from cloud.interop.fhir import codes, load, search
from cloud.interop.fhir.detected_issue import detected_issue_resource
from cloud.interop.fhir.device import device_resource
from cloud.interop.fhir.facts import AnswerFacts, ObservationFacts, PatientFacts
from cloud.interop.fhir.observation import observation_resources
from cloud.interop.fhir.outcome import issue, operation_outcome
from cloud.interop.fhir.patient import patient_resource
from cloud.interop.fhir.questionnaire import questionnaire_response
from cloud.interop.fhir.search import Search
from common.digits import plain_digits

Conn = AsyncConnection[Any]
EXPORT_PAGE: Final = 500
EXPORT_ACTION: Final = "patient.export"


class NotFoundError(LookupError):
    """The resource does not exist (or is not the caller's to see): 404."""


async def read_patient(conn: Conn, patient_id: UUID) -> dict[str, Any]:
    """The Patient."""
    found = await load.load_patient(conn, patient_id)
    if found is None:
        raise NotFoundError
    return patient_resource(found)


async def _observations(conn: Conn, readings: Sequence[ObservationFacts]) -> list[dict[str, Any]]:
    """The Observations of readings of several patients, each judged by its own patient's limits."""
    patients = await load.load_patients(conn, {r.patient_id for r in readings})
    resources: list[dict[str, Any]] = []
    limits: dict[UUID, Any] = {}
    for patient_id, patient in patients.items():
        limits[patient_id] = await load.reference_limits(conn, patient_id)
        own = [r for r in readings if r.patient_id == patient_id]
        resources += observation_resources(own, patient, limits[patient_id])
    order = {str(r.id): n for n, r in enumerate(readings)}
    return sorted(resources, key=lambda resource: order[resource["id"]])


async def read_observation(conn: Conn, observation_id: int) -> dict[str, Any]:
    """The Observation with this id (a diastolic reading of a panel has none of its own: 404 naming the panel)."""
    found = [r for r in await _observations(conn, await load.load_observations(conn, [observation_id]))]
    own = [r for r in found if r["id"] == str(observation_id)]
    if own:
        return own[0]
    if found:
        raise NotFoundError(f"a component of Observation/{found[0]['id']}")
    raise NotFoundError


async def read_device(conn: Conn, device_id: UUID) -> dict[str, Any]:
    """The Device (a device or a gateway)."""
    found = await load.load_device(conn, device_id)
    if found is None:
        raise NotFoundError
    device, patient_id = found
    patient = await load.load_patient(conn, patient_id) if patient_id is not None else None
    return device_resource(device, patient)


async def read_response(conn: Conn, response_id: int) -> dict[str, Any]:
    """The QuestionnaireResponse."""
    answers = await load.answers_by_id(conn, response_id)
    patient = await load.load_patient(conn, answers.patient_id) if answers is not None else None
    if answers is None or patient is None:
        raise NotFoundError
    return questionnaire_response(answers, patient)


async def read_detected_issue(conn: Conn, alert_id: int) -> dict[str, Any]:
    """The DetectedIssue of an alert or episode, with its implicated Observations."""
    alert = await load.load_alert(conn, alert_id)
    patient = await load.load_patient(conn, alert.patient_id) if alert is not None else None
    if alert is None or patient is None:
        raise NotFoundError
    implicated = await _observations(conn, await load.implicated_observations(conn, alert_id))
    return detected_issue_resource(alert, patient, [f"Observation/{r['id']}" for r in implicated])


class Bundler:
    """Makes the searchset Bundle of one search: entries, total, self and next links, and the outcome entry
    that says a `_count` was capped."""

    def __init__(self, base: str, resource: str, items: Sequence[tuple[str, str]], parsed: Search) -> None:
        self.base, self.resource, self.items, self.parsed = base.rstrip("/"), resource, list(items), parsed

    def _url(self, cursor: str | None) -> str:
        kept = [(k, v) for k, v in self.items if k != "_cursor"]
        if cursor is not None:
            kept.append(("_cursor", cursor))
        query = urlencode(kept)
        return f"{self.base}/{self.resource}" + (f"?{query}" if query else "")

    def bundle(
        self, resources: list[dict[str, Any]], total: int | None, last_key: tuple[Any, ...] | None
    ) -> dict[str, Any]:
        """The Bundle; `last_key` is the sort key of the page's last result when another page may follow."""
        links = [
            {"relation": "self", "url": self._url(search.cursor(self.parsed.after) if self.parsed.after else None)}
        ]
        if last_key is not None:
            links.append({"relation": "next", "url": self._url(search.cursor(last_key))})
        entries = [
            {"fullUrl": f"{self.base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ]
        if self.parsed.capped_from is not None:
            note = f"_count {self.parsed.capped_from} was capped to {search.MAX_COUNT}, this server's largest page"
            entries.append({"resource": operation_outcome(issue(note, "too-costly", "warning")),
                            "search": {"mode": "outcome"}})  # fmt: skip
        found: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
        if total is not None:
            found["total"] = total
        found.update(link=links, entry=entries)
        return found


def _next(count: int, results: Sequence[Any], key: Callable[[Any], tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """The key of the last result when the page is full (another page may follow), else None."""
    return key(results[-1]) if results and len(results) >= count else None


async def search_patients(conn: Conn, patients: Sequence[UUID], parsed: Search, bundler: Bundler) -> dict[str, Any]:
    """Patients among those the caller may see, by national identifier or id (`identifier`, `_id`), by id."""
    found = await load.load_patients(conn, patients)
    chosen = sorted(found.values(), key=lambda p: str(p.id))
    if parsed.identifier is not None:
        system, value = parsed.identifier
        chosen = [p for p in chosen if (str(p.id) if system == codes.PATIENT_ID else p.national_id) == value]
    if parsed.ids:
        chosen = [p for p in chosen if str(p.id) in parsed.ids]
    total = len(chosen)
    after = str(parsed.after[0]) if parsed.after else ""
    page = [p for p in chosen if str(p.id) > after][: parsed.count]
    last = _next(parsed.count, page, lambda p: (str(p.id),))
    return bundler.bundle([patient_resource(p) for p in page], total, last)


async def search_observations(conn: Conn, patients: Sequence[UUID], parsed: Search, bundler: Bundler) -> dict[str, Any]:
    """Observations of the patients by (time, id); a blood-pressure panel is one result."""
    if parsed.metrics is not None and not parsed.metrics:
        return bundler.bundle([], 0, None)  # a code no metric has
    page = load.Page(parsed.count, parsed.after)
    readings, total = await load.search_observations(conn, patients, parsed.metrics, parsed.since, parsed.until, page)
    resources = await _observations(conn, readings)
    by_id = {str(r.id): r for r in readings}
    last = _next(parsed.count, resources, lambda r: (by_id[r["id"]].t, by_id[r["id"]].id))
    return bundler.bundle(resources, total, last)


async def search_devices(conn: Conn, patients: Sequence[UUID], parsed: Search, bundler: Bundler) -> dict[str, Any]:
    """The devices of the patients and the gateways they report through, by id."""
    devices = await load.patient_devices(conn, patients)
    page = load.devices_page(devices, load.Page(parsed.count, parsed.after))
    one = await load.load_patient(conn, patients[0]) if len(patients) == 1 else None
    resources = [device_resource(d, one if not d.is_gateway else None) for d in page]
    return bundler.bundle(resources, len(devices), _next(parsed.count, page, lambda d: (str(d.id),)))


async def _responses(conn: Conn, answers: Sequence[AnswerFacts]) -> list[dict[str, Any]]:
    patients = await load.load_patients(conn, {a.patient_id for a in answers})
    return [questionnaire_response(a, patients[a.patient_id]) for a in answers if a.patient_id in patients]


async def search_responses(conn: Conn, patients: Sequence[UUID], parsed: Search, bundler: Bundler) -> dict[str, Any]:
    """The patients' own answers as QuestionnaireResponses, by (time, id)."""
    answers, total = await load.search_answers(conn, patients, load.Page(parsed.count, parsed.after))
    last = _next(parsed.count, answers, lambda a: (a.authored, min(r.id for r in a.readings)))
    return bundler.bundle(await _responses(conn, answers), total, last)


async def search_detected_issues(
    conn: Conn, patients: Sequence[UUID], parsed: Search, bundler: Bundler
) -> dict[str, Any]:
    """The patients' alerts and episodes as DetectedIssues, by id."""
    alerts, total = await load.search_alerts(conn, patients, load.Page(parsed.count, parsed.after))
    resources = [await read_detected_issue(conn, alert.id) for alert in alerts]
    return bundler.bundle(resources, total, _next(parsed.count, alerts, lambda a: (a.id,)))


async def export(conn: Conn, patient_id: UUID) -> AsyncIterator[dict[str, Any]]:
    """The patient's whole record as resources, one at a time (the right of access): the Patient, their Devices,
    every Observation, every QuestionnaireResponse and every DetectedIssue. Observations, answers and alerts are
    read a page at a time, so a long record is never held at once."""
    patient: PatientFacts | None = await load.load_patient(conn, patient_id)
    if patient is None:
        raise NotFoundError
    yield patient_resource(patient)
    for device in await load.patient_devices(conn, [patient_id]):
        yield device_resource(device, None if device.is_gateway else patient)
    limits = await load.reference_limits(conn, patient_id)
    after: tuple[Any, ...] | None = None
    while True:
        readings, _ = await load.search_observations(
            conn, [patient_id], None, None, None, load.Page(EXPORT_PAGE, after)
        )
        resources = observation_resources(readings, patient, limits)
        for resource in resources:
            yield resource
        shown = {resource["id"] for resource in resources}
        primaries = [r for r in readings if str(r.id) in shown]
        if len(primaries) < EXPORT_PAGE:
            break
        after = (primaries[-1].t, primaries[-1].id)
    async for resource in _export_rest(conn, patient_id, patient):
        yield resource


async def _export_rest(conn: Conn, patient_id: UUID, patient: PatientFacts) -> AsyncIterator[dict[str, Any]]:
    after: tuple[Any, ...] | None = None
    while True:
        answers, _ = await load.search_answers(conn, [patient_id], load.Page(EXPORT_PAGE, after))
        for answered in answers:
            yield questionnaire_response(answered, patient)
        if len(answers) < EXPORT_PAGE:
            break
        after = (answers[-1].authored, min(r.id for r in answers[-1].readings))
    after = None
    while True:
        alerts, _ = await load.search_alerts(conn, [patient_id], load.Page(EXPORT_PAGE, after))
        for alert in alerts:
            yield await read_detected_issue(conn, alert.id)
        if len(alerts) < EXPORT_PAGE:
            break
        after = (alerts[-1].id,)


async def visible_patients(conn: Conn, scope: PatientGrant | PatientScopeFilter) -> list[UUID]:
    """The patients a search may return: the one the query named (its access already checked), or every patient
    in the caller's scope."""
    if isinstance(scope, PatientGrant):
        return [scope.patient_id]
    return await load.patients_in_scope(conn, scope.municipality_id, scope.team_ids, scope.hidden)


async def observation_patient(conn: Conn, raw_id: str) -> UUID | None:
    """The patient of the Observation with this id (None: no such Observation)."""
    return await load.patient_of_observation(conn, int(raw_id)) if plain_digits(raw_id) else None


async def response_patient(conn: Conn, raw_id: str) -> UUID | None:
    """The patient of the QuestionnaireResponse with this id (None: none)."""
    return await load.patient_of_answers(conn, int(raw_id)) if plain_digits(raw_id) else None


async def device_patient(conn: Conn, raw_id: str) -> UUID | None:
    """The patient a Device serves (None: no such Device, or it serves nobody)."""
    try:
        found = await load.load_device(conn, UUID(raw_id))
    except ValueError:
        return None
    return found[1] if found else None


async def export_lines(pool: AsyncConnectionPool[Any], patient_id: UUID) -> AsyncIterator[bytes]:
    """The patient's export as NDJSON lines, on a connection of its own held while the lines are streamed."""
    async with pool.connection() as conn:
        async for resource in export(conn, patient_id):
            yield json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


async def export_audited(conn: Conn, actor: audit.Actor, patient_id: UUID) -> AsyncIterator[dict[str, Any]]:
    """The patient's export for an operator (the command line): one `patient.export` audit record in the patient's
    municipality's chain first, then the resources; NotFoundError (nothing recorded) for no such patient."""
    municipality = await load.patient_municipality(conn, patient_id)
    if municipality is None:
        raise NotFoundError
    await audit.write(conn, actor.record(EXPORT_ACTION, f"patient/{patient_id}", municipality_id=municipality,
                                         patient_id=patient_id))  # fmt: skip
    async for resource in export(conn, patient_id):
        yield resource
