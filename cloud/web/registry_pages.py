"""The registry's lists (`/registry/...`): patients with their lifecycle, homes with their residents, access
notes and phone, and the consent records due for review.

Each page goes through the policy of the API route that answers the same (`patient_search`: the caller's
scope, one audit record per page); the municipality administrator registers patients (`patient.create`) and
adds and changes homes (`registry.write`), audited, through the registry's services. A home of another
municipality, or none, is a 404 page that tells nothing of its existence.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.access import directory
from cloud.access.policy import PatientScopeFilter, patient_search, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import Role
from cloud.registry import consent, homes
from cloud.registry import patients as registry
from cloud.registry.errors import NotFoundError, RegistryError
from cloud.registry.identity import mask
from cloud.requests import Conn
from cloud.web.admin_forms import NAMES, Refused, optional, posted, refused, said
from cloud.web.errors import error_page
from cloud.web.forms import Checked, text
from cloud.web.navigation import PAGES_TAG, see_other
from cloud.web.registry_forms import NEW_STATES, field_of, new_patient
from cloud.web.templating import render
from common.i18n import N_

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
Patients = Annotated[PatientScopeFilter, patient_search("patient.search")]
Homes = Annotated[PatientScopeFilter, patient_search("home.search")]
Consents = Annotated[PatientScopeFilter, patient_search("consent.search")]
Admin = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, audited="registry.write")]
Creating = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, audited="patient.create")]
LIFECYCLES = tuple(registry.TRANSITIONS)
LIST_LIMIT = 500
NO_HOME = "No such home in your municipality."  # the registry's words, explained by cloud.web.errors


def _teams(scope: PatientScopeFilter) -> list[UUID] | None:
    return sorted(scope.team_ids) if scope.team_ids is not None else None


async def choices(conn: Conn, municipality_id: UUID) -> dict[str, Any]:
    """The care teams and homes a patient form chooses from."""
    return {"teams": await directory.list_teams(conn, municipality_id),
            "homes": await homes.list_homes(conn, municipality_id, None, LIST_LIMIT, 0)}  # fmt: skip


async def _patients_page(
    request: Request, conn: Conn, scope: PatientScopeFilter, lifecycle: str, refusal: Refused
) -> Response:
    found = await registry.listing(conn, scope.municipality_id, scope.team_ids, LIST_LIMIT, 0, scope.hidden)
    chosen = lifecycle if lifecycle in LIFECYCLES else ""
    rows = [{**row, "masked": mask(row["national_id"]) if row["national_id"] else None}
            for row in found if not chosen or row["lifecycle"] == chosen]  # fmt: skip
    is_admin = scope.principal.role == Role.MUNICIPALITY_ADMIN
    context = {"patients": rows, "lifecycles": LIFECYCLES, "chosen": chosen, "is_admin": is_admin,
               "new_states": NEW_STATES, **(await choices(conn, scope.municipality_id) if is_admin else {}),
               **NAMES, **refusal.context()}  # fmt: skip
    return render(request, "registry_patients.html", context, status=refusal.status)


@router.get("/registry/patients")
async def patient_list(request: Request, conn: Conn, scope: Patients, lifecycle: str = "") -> Response:
    """The patients in the caller's scope by name, optionally of one lifecycle state; for the administrator
    with the form to register a patient."""
    return await _patients_page(request, conn, scope, lifecycle, Refused())


@router.post("/registry/patients")
async def create_patient(request: Request, conn: Conn, admin: Creating) -> Response:
    """Register a patient (one transaction), then show their registry page."""
    checked, _ticked = await posted(request)
    fields, lifecycle = new_patient(checked)
    scope = PatientScopeFilter(admin, admin.municipality_id, None)
    if checked.errors:
        return await _patients_page(request, conn, scope, "", refused(request, "patient", checked))
    try:
        patient_id = await registry.create(
            conn, municipality_id=admin.municipality_id, fields=fields, lifecycle=lifecycle,  # type: ignore[arg-type]
            allow_synthetic=bool(request.app.state.settings.allow_synthetic_ids), by=admin.id,
        )  # fmt: skip
    except RegistryError as exc:
        refusal = said("patient", field_of(str(exc)), str(exc), checked.values, exc.status)
        return await _patients_page(request, conn, scope, "", refusal)
    return see_other(f"/registry/patients/{patient_id}?done=created")


async def _homes_page(request: Request, conn: Conn, scope: PatientScopeFilter, refusal: Refused) -> Response:
    found = await homes.list_homes(conn, scope.municipality_id, _teams(scope), LIST_LIMIT, 0, scope.hidden)
    context = {"homes": found, "is_admin": scope.principal.role == Role.MUNICIPALITY_ADMIN, **NAMES,
               **refusal.context()}  # fmt: skip
    return render(request, "registry_homes.html", context, status=refusal.status)


@router.get("/registry/homes")
async def home_list(request: Request, conn: Conn, scope: Homes) -> Response:
    """The homes of the caller's patients (every home for the administrator), with a form to add one."""
    return await _homes_page(request, conn, scope, Refused())


def home_fields(checked: Checked) -> dict[str, str | None]:
    """The home form: an address, optional access notes and phone."""
    address = text(checked, "address", required=N_("Give the home's address."), bounds=(1, 300))
    notes = checked.values.get("access_notes", "").strip()
    if len(notes) > 2000:
        checked.refuse("access_notes", N_("The text is too long."))
    return {"address": address, "access_notes": notes, "phone": optional(checked, "phone", (3, 40))}


@router.post("/registry/homes")
async def create_home(request: Request, conn: Conn, admin: Admin) -> Response:
    """Add a home, then show it."""
    checked, _ticked = await posted(request)
    fields = home_fields(checked)
    if checked.errors:
        scope = PatientScopeFilter(admin, admin.municipality_id, None)
        return await _homes_page(request, conn, scope, refused(request, "home", checked))
    home_id = await homes.create(
        conn, municipality_id=admin.municipality_id, address=str(fields["address"]),
        access_notes=str(fields["access_notes"]), phone=fields["phone"],
    )  # fmt: skip
    return see_other(f"/registry/homes/{home_id}?done=created")


async def _home_page(
    request: Request, conn: Conn, scope: PatientScopeFilter, home_id: UUID, refusal: Refused
) -> Response:
    try:
        home = await homes.get(conn, scope.municipality_id, home_id, _teams(scope), scope.hidden)
    except NotFoundError:
        return error_page(request, 404, NO_HOME)
    context = {"home": home, "is_admin": scope.principal.role == Role.MUNICIPALITY_ADMIN,
               "done": request.query_params.get("done", ""), **NAMES, **refusal.context()}  # fmt: skip
    return render(request, "registry_home.html", context, status=refusal.status)


@router.get("/registry/homes/{home_id}")
async def home_page(home_id: UUID, request: Request, conn: Conn, scope: Homes) -> Response:
    """A home with its residents, and for the administrator the form to change it."""
    return await _home_page(request, conn, scope, home_id, Refused())


@router.post("/registry/homes/{home_id}")
async def change_home(home_id: UUID, request: Request, conn: Conn, admin: Admin) -> Response:
    """Change a home's address, access notes or phone."""
    checked, _ticked = await posted(request)
    fields = home_fields(checked)
    scope = PatientScopeFilter(admin, admin.municipality_id, None)
    if checked.errors:
        return await _home_page(request, conn, scope, home_id, refused(request, "home", checked))
    try:  # an empty phone clears it
        await homes.update(conn, municipality_id=admin.municipality_id, home_id=home_id, changes=fields)
    except NotFoundError:
        return error_page(request, 404, NO_HOME)
    return see_other(f"/registry/homes/{home_id}?done=saved")


@router.get("/registry/consents")
async def consents_due(request: Request, conn: Conn, scope: Consents) -> Response:
    """Consent and assessment records of the caller's patients due for review within 30 days."""
    found = await consent.due_for_review(conn, scope.municipality_id, scope.team_ids, scope.hidden)
    return render(request, "registry_consents.html", {"records": found, **NAMES})
