"""The municipality administrator's pages (`/admin/...`): staff, care teams and roles, and which protocols
apply (the municipality's default, a care team's patients). The escalation settings are in
`cloud.web.admin_escalation`.

Every page and form is the administrator's alone (`staff_only(municipality_admin)`: another role gets a refusal
page, a form without the session's CSRF token is refused before anything is read), through the services the
API routes use (`cloud.access.directory`, `cloud.registry.protocols`), each change audited by its service or
its policy. A refused form shows the page again with the message next to the field and nothing written.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from alerts.protocols.load import protocol_names
from cloud.access import directory
from cloud.access.policy import actor, staff_only
from cloud.access.principal import Principal
from cloud.access.roles import STAFF_ROLES, Role
from cloud.access.signin import password_pool
from cloud.registry import protocols
from cloud.registry.errors import RegistryError
from cloud.requests import Conn
from cloud.web.admin_forms import Refused, posted, refused, said
from cloud.web.errors import error_page
from cloud.web.forms import text
from cloud.web.navigation import PAGES_TAG, see_other
from cloud.web.templating import ROLE_NAMES, gettext_of, render
from common.i18n import N_

router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])
Admin = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN)]
Assigning = Annotated[Principal, staff_only(Role.MUNICIPALITY_ADMIN, audited="protocol.assign")]
USERNAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")
ROLES = tuple(role for role in Role if role in STAFF_ROLES)
NO_STAFF = "No such staff member."


@router.get("/admin")
async def index(request: Request, admin: Admin) -> Response:
    """What the administrator looks after, with links to each page."""
    return render(request, "admin.html", {})


async def _staff_page(request: Request, conn: Conn, admin: Admin, refusal: Refused) -> Response:
    context = {"staff": await directory.list_staff(conn, admin.municipality_id),
               "teams": await directory.list_teams(conn, admin.municipality_id), "roles": ROLES,
               "role_names": ROLE_NAMES, "done": request.query_params.get("done", ""), **refusal.context()}  # fmt: skip
    return render(request, "admin_staff.html", context, status=refusal.status)


@router.get("/admin/staff")
async def staff_page(request: Request, conn: Conn, admin: Admin) -> Response:
    """Staff with their roles and teams, the care teams, and the forms to add, deactivate and place them."""
    return await _staff_page(request, conn, admin, Refused())


@router.post("/admin/staff")
async def add_staff(request: Request, conn: Conn, admin: Admin) -> Response:
    """Add a staff member with a role and optionally a team and a password (local accounts)."""
    checked, _ticked = await posted(request)
    username = checked.values.get("username", "").strip()
    if not 2 <= len(username) <= 100 or not set(username) <= USERNAME_CHARACTERS:
        checked.refuse("username", N_("A user name has 2 to 100 letters, digits or . _ @ -"))
    name = text(checked, "display_name", required=N_("Give the person's name."), bounds=(1, 200))
    role = checked.values.get("role", "")
    if role not in ROLES:
        checked.refuse("role", N_("Choose a role."))
    password = checked.values.get("password", "")
    if password and not 12 <= len(password) <= 1000:
        checked.refuse("password", N_("A password has at least 12 characters."))
    teams: list[UUID] = []
    if checked.values.get("team_id", "").strip():
        try:
            teams = [UUID(checked.values["team_id"].strip())]
        except ValueError:
            checked.refuse("team_id", N_("Choose a care team."))
    if checked.errors:
        return await _staff_page(request, conn, admin, refused(request, "staff", checked))
    try:
        await directory.add_staff(
            conn, actor=actor(request, admin), municipality=admin.municipality_id, username=username,
            display_name=name, role=Role(role), team_ids=teams, password=password or None,
            passwords=password_pool(request),
        )  # fmt: skip
    except directory.DirectoryError as exc:
        field = "username" if "user name" in str(exc) else "team_id"
        return await _staff_page(request, conn, admin, said("staff", field, str(exc), checked.values, 409))
    return see_other("/admin/staff?done=added")


@router.post("/admin/staff/{staff_id}/deactivate")
async def deactivate(staff_id: UUID, request: Request, conn: Conn, admin: Admin) -> Response:
    """Deactivate a staff member at once (not oneself)."""
    if staff_id == admin.id:
        message = gettext_of(request)(N_("You cannot deactivate yourself; ask another administrator."))
        return await _staff_page(request, conn, admin, said("deactivate", "staff", message, {}, 409))
    done = None
    if await directory.in_municipality(conn, actor(request, admin), staff_id, "staff.deactivate"):
        done = await directory.deactivate(conn, actor(request, admin), staff_id, admin.municipality_id, admin.id)
    if done is None:
        return error_page(request, 404, NO_STAFF)
    return see_other("/admin/staff?done=deactivated")


@router.post("/admin/staff/{staff_id}/teams")
async def add_to_team(staff_id: UUID, request: Request, conn: Conn, admin: Admin) -> Response:
    """Add a staff member to a care team."""
    checked, _ticked = await posted(request)
    try:
        team = UUID(checked.values.get("team_id", ""))
    except ValueError:
        checked.refuse("team_id", N_("Choose a care team."))
        return await _staff_page(request, conn, admin, refused(request, f"team-{staff_id}", checked))
    if not await directory.add_to_team(conn, actor(request, admin), staff_id, team):
        return error_page(request, 404, NO_STAFF)
    return see_other("/admin/staff?done=team")


@router.post("/admin/teams")
async def add_team(request: Request, conn: Conn, admin: Admin) -> Response:
    """Add a care team (adding a name twice changes nothing)."""
    checked, _ticked = await posted(request)
    name = text(checked, "name", required=N_("Give the team's name."), bounds=(1, 200))
    if checked.errors:
        return await _staff_page(request, conn, admin, refused(request, "team", checked))
    await directory.ensure_team(conn, admin.municipality_id, name, actor=actor(request, admin))
    return see_other("/admin/staff?done=team-added")


async def _protocols_page(request: Request, conn: Conn, admin: Principal, refusal: Refused) -> Response:
    context = {"default": await protocols.municipality_default(conn, admin.municipality_id),
               "names": protocol_names(), "teams": await directory.list_teams(conn, admin.municipality_id),
               "done": request.query_params.get("done", ""), "count": request.query_params.get("count", ""),
               **refusal.context()}  # fmt: skip
    return render(request, "admin_protocols.html", context, status=refusal.status)


@router.get("/admin/protocols")
async def protocols_page(request: Request, conn: Conn, admin: Admin) -> Response:
    """The municipality's default protocols and the form to give a care team's patients theirs."""
    return await _protocols_page(request, conn, admin, Refused())


@router.post("/admin/protocols")
async def set_default(request: Request, conn: Conn, admin: Assigning) -> Response:
    """Set the municipality's default protocols (none ticked: the built-in default)."""
    checked, ticked = await posted(request)
    try:
        await protocols.set_municipality_default(conn, admin.municipality_id, ticked)
    except RegistryError as exc:
        return await _protocols_page(request, conn, admin, said("default", "protocols", str(exc), checked.values))
    return see_other("/admin/protocols?done=default")


@router.post("/admin/protocols/team")
async def set_for_team(request: Request, conn: Conn, admin: Assigning) -> Response:
    """Give every patient of a care team still in the service the ticked protocols."""
    checked, ticked = await posted(request)
    try:
        team = UUID(checked.values.get("team_id", ""))
        count = await protocols.set_for_team(conn, admin.municipality_id, team, ticked)
    except ValueError as exc:
        message = str(exc) if isinstance(exc, RegistryError) else gettext_of(request)(N_("Choose a care team."))
        field = "protocols" if isinstance(exc, RegistryError) and exc.status == 422 else "team_id"
        return await _protocols_page(request, conn, admin, said("team", field, message, checked.values))
    return see_other(f"/admin/protocols?done=team&count={count}")
