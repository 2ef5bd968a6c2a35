"""A patient's registry page (`/registry/patients/{id}`): the administrative record beside the nurse's clinical
page (`/patients/{id}`), which it links to.

It shows identity, phone, GP, care team, home, contacts in call order, the lifecycle and its history, the
protocols, the consent records of supervision sensors; its forms change the lifecycle, record or withdraw a
consent, set the protocols and release quarantined `unassigned` readings. The page and every form go through
the policy of the API route that does the same (`patient_access`, audited; another municipality's patient is a
404 page that tells nothing, another team's a 403 page) and the same registry services; a refused form shows
the page again with the message next to the field and nothing written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from alerts.protocols.load import protocol_names
from cloud.access.policy import PatientGrant, patient_access
from cloud.access.roles import Role
from cloud.interop import status
from cloud.interop.pmd.consents import ConsentError
from cloud.registry import assignments, consent, protocols, release
from cloud.registry import patients as registry
from cloud.registry.errors import RegistryError
from cloud.requests import Conn
from cloud.web.admin_forms import NAMES, Refused, day, moment, posted, refused, said
from cloud.web.forms import Checked, text
from cloud.web.navigation import PAGES_TAG, see_other
from cloud.web.registry_forms import contact_rows, field_of, record_fields
from cloud.web.registry_pages import choices
from cloud.web.templating import render
from common.digits import plain_digits
from common.i18n import N_

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
LEADS = (Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD)
CARERS = (Role.MUNICIPALITY_ADMIN, Role.TEAM_LEAD, Role.NURSE)
Reading = Annotated[PatientGrant, patient_access("patient.read")]
Moving = Annotated[PatientGrant, patient_access("patient.lifecycle", *LEADS)]
Changing = Annotated[PatientGrant, patient_access("patient.update", *LEADS)]
Consenting = Annotated[PatientGrant, patient_access("consent.create", *CARERS)]
Withdrawing = Annotated[PatientGrant, patient_access("consent.withdraw", *CARERS)]
SharingConsent = Annotated[PatientGrant, patient_access("pmd.consent", *CARERS)]
SharingWithdrawal = Annotated[PatientGrant, patient_access("pmd.withdraw", *CARERS)]
Releasing = Annotated[PatientGrant, patient_access("quarantine.release", Role.MUNICIPALITY_ADMIN)]
Assigning = Annotated[PatientGrant, patient_access("protocol.assign", Role.MUNICIPALITY_ADMIN)]
BASES = ("consent", "assessment")
DEVICE_LIMIT = 1000


async def _devices(conn: Conn, grant: PatientGrant, home_id: UUID | None) -> dict[str, list[dict[str, Any]]]:
    """The municipality's devices for the forms: supervision sensors of the patient or their home (consent),
    and every device (a release names the device whose first readings were quarantined)."""
    found = await assignments.inventory(conn, grant.principal.municipality_id, limit=DEVICE_LIMIT, offset=0)
    supervision = consent.supervision_profiles()
    mine = [d for d in found if d["patient_id"] == grant.patient_id or (home_id and d["home_id"] == home_id)]
    return {"supervision": [d for d in mine if d["profile_id"] in supervision], "all": found}


def _count(request: Request) -> int:
    """How many readings the release moved (from the address it returned to)."""
    count = request.query_params.get("count", "0")
    return int(count) if plain_digits(count) else 0


async def _page(
    request: Request, conn: Conn, grant: PatientGrant, refusal: Refused, preview: release.Released | None = None
) -> Response:
    details = await registry.details(conn, grant.patient_id)
    own = (await protocols.of_patients(conn, [grant.patient_id])).get(grant.patient_id, [])
    role = grant.principal.role
    context = {
        "p": details, "patient_id": grant.patient_id, "records": await consent.list_for(conn, grant.patient_id),
        "devices": await _devices(conn, grant, details["home_id"]), "own_protocols": own,
        "default_protocols": await protocols.municipality_default(conn, grant.principal.municipality_id),
        "protocol_names": protocol_names(), "next_states": sorted(registry.TRANSITIONS[details["lifecycle"]]),
        "may_move": role in LEADS, "contact_rows": contact_rows(len(details["contacts"]), refusal),
        "may_consent": role in CARERS, "is_admin": role == Role.MUNICIPALITY_ADMIN, "preview": preview,
        "done": request.query_params.get("done", ""), "request_count": _count(request),
        "pmd": await status.pmd_sharing(conn, grant.patient_id),
        **(await choices(conn, grant.principal.municipality_id) if role in LEADS else {}),
        "held_back": await release.held_back(conn, grant.principal.municipality_id)
        if role == Role.MUNICIPALITY_ADMIN else {}, **NAMES, **refusal.context(),
    }  # fmt: skip
    return render(request, "registry_patient.html", context, status=refusal.status)


def _back(patient_id: UUID, done: str, anchor: str) -> Response:
    return see_other(f"/registry/patients/{patient_id}?done={done}#{anchor}")


@router.get("/registry/patients/{patient_id}")
async def patient_record(patient_id: UUID, request: Request, conn: Conn, grant: Reading) -> Response:
    """The patient's registry record with its forms."""
    return await _page(request, conn, grant, Refused())


@router.post("/registry/patients/{patient_id}/record")
async def change_record(patient_id: UUID, request: Request, conn: Conn, grant: Changing) -> Response:
    """Change the patient's name, phone, care team, home, GP and contacts (in call order)."""
    checked, _ticked = await posted(request)
    fields = record_fields(checked)
    if checked.errors:
        return await _page(request, conn, grant, refused(request, "record", checked))
    try:
        await registry.update(
            conn, municipality_id=grant.principal.municipality_id, patient_id=grant.patient_id, fields=fields,
            allow_synthetic=bool(request.app.state.settings.allow_synthetic_ids),
        )  # fmt: skip
    except RegistryError as exc:
        refusal = said("record", field_of(str(exc)), str(exc), checked.values, exc.status)
        return await _page(request, conn, grant, refusal)
    return _back(grant.patient_id, "record", "record")


@router.post("/registry/patients/{patient_id}/lifecycle")
async def move(patient_id: UUID, request: Request, conn: Conn, grant: Moving) -> Response:
    """Move the patient along the lifecycle (the registry's allowed transitions)."""
    checked, _ticked = await posted(request)
    to = checked.values.get("to", "")
    if to not in registry.TRANSITIONS:
        checked.refuse("to", N_("Choose the new state."))
    reason = text(checked, "reason", required=N_("Give a reason of at least 3 characters."), bounds=(3, 500))
    if checked.errors:
        return await _page(request, conn, grant, refused(request, "lifecycle", checked))
    try:
        await registry.change_lifecycle(
            conn, municipality_id=grant.principal.municipality_id, patient_id=grant.patient_id, to=to,  # type: ignore[arg-type]
            reason=reason, by=grant.principal.id,
        )  # fmt: skip
    except RegistryError as exc:
        return await _page(request, conn, grant, said("lifecycle", "to", str(exc), checked.values, exc.status))
    return _back(grant.patient_id, "lifecycle", "lifecycle")


def _consent_fields(checked: Checked) -> tuple[UUID | None, str, str, Any]:
    device = checked.values.get("device_id", "")
    try:
        device_id: UUID | None = UUID(device)
    except ValueError:
        checked.refuse("device_id", N_("Choose the sensor."))
        device_id = None
    basis = checked.values.get("basis", "")
    if basis not in BASES:
        checked.refuse("basis", N_("Choose consent or assessment."))
    note = text(checked, "note", required=N_("Give a reason of at least 3 characters."), bounds=(3, 2000))
    review_by = day(checked, "review_by", N_("Choose the date of the next review."))
    return device_id, basis, note, review_by


@router.post("/registry/patients/{patient_id}/consents")
async def record_consent(patient_id: UUID, request: Request, conn: Conn, grant: Consenting) -> Response:
    """Record a consent or documented assessment for one supervision sensor."""
    checked, _ticked = await posted(request)
    device_id, basis, note, review_by = _consent_fields(checked)
    if checked.errors or device_id is None:
        return await _page(request, conn, grant, refused(request, "consent", checked))
    try:
        await consent.record(
            conn, municipality_id=grant.principal.municipality_id, patient_id=grant.patient_id, device_id=device_id,
            basis=basis, note=note, review_by=review_by, valid_from=None, by=grant.principal.id,  # type: ignore[arg-type]
        )  # fmt: skip
    except RegistryError as exc:
        field = "review_by" if "review date" in str(exc) else "device_id"
        return await _page(request, conn, grant, said("consent", field, str(exc), checked.values, exc.status))
    return _back(grant.patient_id, "consent", "consents")


@router.post("/registry/patients/{patient_id}/consents/{consent_id}/withdraw")
async def withdraw_consent(
    patient_id: UUID, consent_id: int, request: Request, conn: Conn, grant: Withdrawing
) -> Response:
    """Withdraw a record from now on."""
    try:
        await consent.withdraw(conn, patient_id=grant.patient_id, consent_id=consent_id, by=grant.principal.id)
    except RegistryError as exc:
        return await _page(request, conn, grant, said("withdraw", "consent", str(exc), {}, exc.status))
    return _back(grant.patient_id, "withdrawn", "consents")


@router.post("/registry/patients/{patient_id}/pmd")
async def give_pmd_consent(patient_id: UUID, request: Request, conn: Conn, grant: SharingConsent) -> Response:
    """Record the patient's consent to share measurements with PMD."""
    checked, _ticked = await posted(request)
    note = text(
        checked, "note", required=N_("Say how the consent was given (at least 3 characters)."), bounds=(3, 2000)
    )
    if checked.errors:
        return await _page(request, conn, grant, refused(request, "pmd", checked))
    try:
        await status.give_consent(
            conn, grant.principal.municipality_id, grant.patient_id, note, datetime.now(UTC), grant.principal.id
        )
    except ConsentError as exc:
        return await _page(request, conn, grant, said("pmd", "note", str(exc), checked.values, 409))
    return _back(grant.patient_id, "pmd", "pmd")


@router.post("/registry/patients/{patient_id}/pmd/withdraw")
async def withdraw_pmd_consent(patient_id: UUID, request: Request, conn: Conn, grant: SharingWithdrawal) -> Response:
    """Withdraw the patient's consent to share with PMD from now on."""
    try:
        await status.withdraw_consent(conn, grant.patient_id, grant.principal.id)
    except ConsentError as exc:
        return await _page(request, conn, grant, said("pmd-withdraw", "pmd", str(exc), {}, 404))
    return _back(grant.patient_id, "pmd-withdrawn", "pmd")


@router.post("/registry/patients/{patient_id}/protocols")
async def set_protocols(patient_id: UUID, request: Request, conn: Conn, grant: Assigning) -> Response:
    """Set the patient's own protocols (none ticked: the municipality's default)."""
    checked, ticked = await posted(request)
    try:
        await protocols.set_for_patient(conn, grant.principal.municipality_id, grant.patient_id, ticked)
    except RegistryError as exc:
        return await _page(request, conn, grant, said("protocols", "protocols", str(exc), checked.values, exc.status))
    return _back(grant.patient_id, "protocols", "protocols")


def _release_fields(checked: Checked) -> tuple[UUID | None, datetime | None, datetime | None]:
    """The release form: a device and a range `[start, end)` that has begun."""
    device_id: UUID | None = None
    try:
        device_id = UUID(checked.values.get("device_id", ""))
    except ValueError:
        checked.refuse("device_id", N_("Choose the device."))
    start, end = moment(checked, "start"), moment(checked, "end")
    if start and end and end <= start:
        checked.refuse("end", N_("The end must be after the start."))
    if start and start > datetime.now(UTC):
        checked.refuse("start", N_("The time cannot be in the future."))
    return device_id, start, end


@router.post("/registry/patients/{patient_id}/release")
async def release_readings(patient_id: UUID, request: Request, conn: Conn, grant: Releasing) -> Response:
    """Count (`action=preview`) or release a device's quarantined `unassigned` readings of a time range."""
    checked, _ticked = await posted(request)
    device_id, start, end = _release_fields(checked)
    if checked.errors or device_id is None or start is None or end is None:
        return await _page(request, conn, grant, refused(request, "release", checked))
    where: dict[str, Any] = {"municipality_id": grant.principal.municipality_id, "device_id": device_id,
             "patient_id": grant.patient_id, "start": start, "end": end}  # fmt: skip
    try:
        if checked.values.get("action") == "preview":
            counted = await release.preview(conn, **where)
            shown = Refused("release", {}, checked.values)
            return await _page(request, conn, grant, shown, preview=counted)
        done = await release.release(conn, **where, by=grant.principal.id, audit_id=grant.audit_id)
    except RegistryError as exc:
        return await _page(request, conn, grant, said("release", "device_id", str(exc), checked.values, exc.status))
    return see_other(f"/registry/patients/{grant.patient_id}?done=released&count={done.released}#release")
